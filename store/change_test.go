package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func newConnector(name string) *app.Connector {
	return &app.Connector{Name: name, Type: "ldap", Config: json.RawMessage(`{"url":"ldaps://dir.example.com","base_dn":"dc=example,dc=com"}`),
		RequiredApprovals: 1, CreatedAt: t0, UpdatedAt: t0}
}

func mustCreateConnector(t *testing.T, db *DB, c *app.Connector) *app.Connector {
	t.Helper()
	mustTx(t, db, func(tx app.Tx) error { return tx.CreateConnector(t.Context(), c) })
	return c
}

// newChange is a draft by u on connector connID with nOps operations.
func newChange(connID int64, u *app.User, title string, nOps int) *app.ChangeRequest {
	c := &app.ChangeRequest{Title: title, Description: "why: " + title, ConnectorID: connID, CreatedBy: u.ID,
		CreatedByEmail: u.Email, State: app.StateDraft, Revision: 1, CreatedAt: t0, UpdatedAt: t0}
	for i := range nOps {
		c.Operations = append(c.Operations, app.ChangeOperation{Seq: i, Type: "ldap.user.disable",
			Params: json.RawMessage(fmt.Sprintf(`{"uid":"user%d"}`, i))})
	}
	return c
}

func mustCreateChange(t *testing.T, db *DB, c *app.ChangeRequest) *app.ChangeRequest {
	t.Helper()
	mustTx(t, db, func(tx app.Tx) error { return tx.CreateChangeRequest(t.Context(), c) })
	return c
}

func mustGetChange(t *testing.T, db *DB, id int64) *app.ChangeRequest {
	t.Helper()
	c, err := db.ChangeRequestByID(t.Context(), id)
	if err != nil {
		t.Fatalf("ChangeRequestByID(%d): %v", id, err)
	}
	return c
}

// ownFields is c without its children, for comparing what UpdateChangeRequest wrote.
func ownFields(c app.ChangeRequest) app.ChangeRequest {
	c.Operations, c.Approvals = nil, nil
	return c
}

func TestConnectors(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		ldap := newConnector("corp-ldap")
		ldap.SealedCredentials = []byte("\x00sealed\xffbytes")
		ldap.CredentialsUpdatedAt = t0.Add(time.Minute)
		mustCreateConnector(t, db, ldap)
		aws := mustCreateConnector(t, db, newConnector("aws-prod"))
		if ldap.ID == 0 || aws.ID == ldap.ID {
			t.Fatalf("ids: %d, %d", ldap.ID, aws.ID)
		}

		got, err := db.ConnectorByID(ctx, ldap.ID)
		if err != nil || !reflect.DeepEqual(got, ldap) {
			t.Fatalf("ConnectorByID = %+v, %v\nwant %+v", got, err, ldap)
		}
		// No credentials: NULL in, nil and the zero time out.
		if got, err := db.ConnectorByID(ctx, aws.ID); err != nil || got.SealedCredentials != nil || !got.CredentialsUpdatedAt.IsZero() {
			t.Errorf("connector without credentials = %+v, %v", got, err)
		}
		if cs, err := db.ListConnectors(ctx); err != nil || len(cs) != 2 || cs[0].Name != "aws-prod" || cs[1].Name != "corp-ldap" {
			t.Errorf("ListConnectors = %+v, %v; want by name", cs, err)
		}
		if cs, err := db.ConnectorsWithCredentials(ctx); err != nil || len(cs) != 1 || cs[0].ID != ldap.ID {
			t.Errorf("ConnectorsWithCredentials = %+v, %v", cs, err)
		}

		// Update every field; clearing the credentials takes the connector
		// out of the rekey list.
		aws.Name, aws.Type, aws.Config, aws.RequiredApprovals = "aws-production", "aws", json.RawMessage(`{"region":"eu-west-1"}`), 3
		aws.SealedCredentials, aws.CredentialsUpdatedAt, aws.UpdatedAt = []byte("s2"), t0.Add(time.Hour), t0.Add(time.Hour)
		ldap.SealedCredentials, ldap.CredentialsUpdatedAt, ldap.UpdatedAt = nil, time.Time{}, t0.Add(2*time.Hour)
		mustTx(t, db, func(tx app.Tx) error {
			if err := tx.UpdateConnector(ctx, aws); err != nil {
				return err
			}
			return tx.UpdateConnector(ctx, ldap)
		})
		for _, want := range []*app.Connector{aws, ldap} {
			if got, err := db.ConnectorByID(ctx, want.ID); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("after UpdateConnector = %+v, %v\nwant %+v", got, err, want)
			}
		}
		if cs, err := db.ConnectorsWithCredentials(ctx); err != nil || len(cs) != 1 || cs[0].ID != aws.ID {
			t.Errorf("ConnectorsWithCredentials after update = %+v, %v", cs, err)
		}

		user := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		mustCreateChange(t, db, newChange(ldap.ID, user, "in use", 0))
		spare := mustCreateConnector(t, db, newConnector("spare"))

		errCases := []struct {
			name string
			code app.ErrorCode
			msg  string
			run  func(tx app.Tx) error
		}{
			{"duplicate name", app.ECONFLICT, "a connector with this name already exists", func(tx app.Tx) error {
				return tx.CreateConnector(ctx, newConnector("corp-ldap"))
			}},
			{"rename to taken name", app.ECONFLICT, "a connector with this name already exists", func(tx app.Tx) error {
				c := *aws
				c.Name = "corp-ldap"
				return tx.UpdateConnector(ctx, &c)
			}},
			{"no approvals required", app.EINVALID, "", func(tx app.Tx) error {
				c := newConnector("zero")
				c.RequiredApprovals = 0
				return tx.CreateConnector(ctx, c)
			}},
			{"by id not found", app.ENOTFOUND, "connector not found", func(tx app.Tx) error {
				_, err := tx.ConnectorByID(ctx, 9999)
				return err
			}},
			{"update not found", app.ENOTFOUND, "connector not found", func(tx app.Tx) error {
				c := *aws
				c.ID = 9999
				return tx.UpdateConnector(ctx, &c)
			}},
			{"delete not found", app.ENOTFOUND, "connector not found", func(tx app.Tx) error { return tx.DeleteConnector(ctx, 9999) }},
			{"delete in use", app.ECONFLICT, "connector is used by change requests", func(tx app.Tx) error {
				return tx.DeleteConnector(ctx, ldap.ID)
			}},
		}
		for _, c := range errCases {
			t.Run(c.name, func(t *testing.T) {
				err := db.WithTx(ctx, c.run)
				wantCode(t, err, c.code)
				if c.msg != "" && app.ErrMessage(err) != c.msg {
					t.Errorf("message = %q, want %q", app.ErrMessage(err), c.msg)
				}
			})
		}

		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteConnector(ctx, spare.ID) })
		_, err = db.ConnectorByID(ctx, spare.ID)
		wantCode(t, err, app.ENOTFOUND)
		if _, err := db.ConnectorByID(ctx, ldap.ID); err != nil {
			t.Errorf("connector in use is gone after the refused delete: %v", err)
		}
	})
}

func TestChangeRequestCreateAndGet(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		c := newChange(conn.ID, u, "disable leavers", 3)
		c.Operations[2].Status = app.OpSkipped
		mustCreateChange(t, db, c)
		if c.ID == 0 {
			t.Fatal("no id")
		}
		for i, op := range c.Operations {
			if op.ID == 0 || op.ChangeRequestID != c.ID || (i > 0 && op.ID == c.Operations[i-1].ID) {
				t.Errorf("operation %d = %+v", i, op)
			}
		}
		if c.Operations[0].Status != app.OpPending || c.Operations[2].Status != app.OpSkipped {
			t.Errorf("statuses %q, %q; want pending by default", c.Operations[0].Status, c.Operations[2].Status)
		}

		want := *c
		want.Approvals = []app.Approval{}
		if got := mustGetChange(t, db, c.ID); !reflect.DeepEqual(*got, want) {
			t.Errorf("ChangeRequestByID =\n%+v\nwant\n%+v", *got, want)
		}

		// A request without operations reads back with empty, non-nil slices.
		bare := mustCreateChange(t, db, newChange(conn.ID, u, "bare", 0))
		if got := mustGetChange(t, db, bare.ID); got.Operations == nil || len(got.Operations) != 0 || got.Approvals == nil {
			t.Errorf("bare request children = %#v, %#v", got.Operations, got.Approvals)
		}

		// Every state of the lifecycle is storable.
		for _, st := range app.ChangeStates {
			c := newChange(conn.ID, u, string(st), 0)
			c.State = st
			mustCreateChange(t, db, c)
			if got := mustGetChange(t, db, c.ID); got.State != st {
				t.Errorf("state %q read back as %q", st, got.State)
			}
		}

		errCases := []struct {
			name string
			code app.ErrorCode
			msg  string
			run  func(tx app.Tx) error
		}{
			{"not found", app.ENOTFOUND, "change request not found", func(tx app.Tx) error {
				_, err := tx.ChangeRequestByID(ctx, 9999)
				return err
			}},
			{"unknown state", app.EINVALID, "", func(tx app.Tx) error {
				c := newChange(conn.ID, u, "x", 0)
				c.State = "limbo"
				return tx.CreateChangeRequest(ctx, c)
			}},
			{"unknown connector", app.ENOTFOUND, "", func(tx app.Tx) error {
				return tx.CreateChangeRequest(ctx, newChange(9999, u, "x", 0))
			}},
			{"unknown creator", app.ENOTFOUND, "", func(tx app.Tx) error {
				return tx.CreateChangeRequest(ctx, newChange(conn.ID, &app.User{ID: 9999}, "x", 0))
			}},
			{"unknown operation status", app.EINVALID, "", func(tx app.Tx) error {
				c := newChange(conn.ID, u, "x", 1)
				c.Operations[0].Status = "maybe"
				return tx.CreateChangeRequest(ctx, c)
			}},
			{"duplicate seq", app.ECONFLICT, "two operations share one position in the change request", func(tx app.Tx) error {
				c := newChange(conn.ID, u, "x", 2)
				c.Operations[1].Seq = 0
				return tx.CreateChangeRequest(ctx, c)
			}},
		}
		for _, c := range errCases {
			t.Run(c.name, func(t *testing.T) {
				err := db.WithTx(ctx, c.run)
				wantCode(t, err, c.code)
				if c.msg != "" && app.ErrMessage(err) != c.msg {
					t.Errorf("message = %q, want %q", app.ErrMessage(err), c.msg)
				}
			})
		}
	})
}

func TestUpdateChangeRequest(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		conn2 := mustCreateConnector(t, db, newConnector("ldap2"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		approver := mustCreateUser(t, db, newUser("ap@example.com", app.RoleApprover))
		c := mustCreateChange(t, db, newChange(conn.ID, u, "t", 1))

		// Every own field set…
		full := ownFields(*c)
		full.Title, full.Description, full.ConnectorID = "t2", "d2", conn2.ID
		full.State, full.Revision = app.StateExecuting, 7
		full.Emergency, full.EmergencyJustification, full.EmergencyBy = true, "outage", u.ID
		full.ReviewedBy, full.ReviewedAt, full.ReviewComment = approver.ID, t0.Add(5*time.Hour), "fine"
		full.LeaseOwner, full.LeaseExpiresAt = "worker-1", t0.Add(time.Hour+123*time.Millisecond)
		full.UpdatedAt, full.SubmittedAt, full.StartedAt, full.FinishedAt = t0.Add(6*time.Hour), t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
		// …then every optional one cleared again.
		cleared := full
		cleared.State, cleared.Emergency, cleared.EmergencyJustification, cleared.EmergencyBy = app.StateDraft, false, "", 0
		cleared.ReviewedBy, cleared.ReviewedAt, cleared.ReviewComment = 0, time.Time{}, ""
		cleared.LeaseOwner, cleared.LeaseExpiresAt = "", time.Time{}
		cleared.SubmittedAt, cleared.StartedAt, cleared.FinishedAt = time.Time{}, time.Time{}, time.Time{}

		for _, want := range []app.ChangeRequest{full, cleared} {
			w := want
			mustTx(t, db, func(tx app.Tx) error { return tx.UpdateChangeRequest(ctx, &w) })
			got := mustGetChange(t, db, c.ID)
			if !reflect.DeepEqual(ownFields(*got), want) {
				t.Errorf("after UpdateChangeRequest =\n%+v\nwant\n%+v", ownFields(*got), want)
			}
			if len(got.Operations) != 1 || got.Operations[0].ID != c.Operations[0].ID {
				t.Errorf("operations changed: %+v", got.Operations)
			}
		}

		missing := cleared
		missing.ID = 9999
		wantCode(t, db.WithTx(ctx, func(tx app.Tx) error { return tx.UpdateChangeRequest(ctx, &missing) }), app.ENOTFOUND)
	})
}

func TestListChangeRequests(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conns := []*app.Connector{mustCreateConnector(t, db, newConnector("a")), mustCreateConnector(t, db, newConnector("b"))}
		users := []*app.User{mustCreateUser(t, db, newUser("u1@example.com", app.RoleOperator)),
			mustCreateUser(t, db, newUser("u2@example.com", app.RoleOperator))}
		states := []app.ChangeState{app.StateDraft, app.StateSubmitted, app.StateSucceeded}
		var all []*app.ChangeRequest
		mustTx(t, db, func(tx app.Tx) error {
			for i := range 14 {
				c := newChange(conns[i%2].ID, users[i/7], fmt.Sprint("c", i), i%3)
				c.State = states[i%3]
				c.Emergency = i%4 == 0
				if i == 8 {
					c.ReviewedBy = users[1].ID // reviewed emergency
				}
				if err := tx.CreateChangeRequest(ctx, c); err != nil {
					return err
				}
				for j := range i % 2 {
					if err := tx.AddApproval(ctx, &app.Approval{ChangeRequestID: c.ID, UserID: users[j].ID, UserEmail: users[j].Email,
						Decision: app.DecisionApprove, Revision: 1, At: t0}); err != nil {
						return err
					}
				}
				all = append(all, c)
			}
			return nil
		})

		idsWhere := func(keep func(c *app.ChangeRequest) bool) []int64 {
			var ids []int64
			for _, c := range slices.Backward(all) {
				if keep(c) {
					ids = append(ids, c.ID)
				}
			}
			return ids
		}
		cases := []struct {
			name string
			f    app.ChangeFilter
			keep func(c *app.ChangeRequest) bool
		}{
			{"all", app.ChangeFilter{}, func(*app.ChangeRequest) bool { return true }},
			{"state", app.ChangeFilter{State: app.StateSubmitted}, func(c *app.ChangeRequest) bool { return c.State == app.StateSubmitted }},
			{"connector", app.ChangeFilter{ConnectorID: conns[1].ID}, func(c *app.ChangeRequest) bool { return c.ConnectorID == conns[1].ID }},
			{"creator", app.ChangeFilter{CreatedBy: users[0].ID}, func(c *app.ChangeRequest) bool { return c.CreatedBy == users[0].ID }},
			{"needs review", app.ChangeFilter{NeedsReview: true}, func(c *app.ChangeRequest) bool { return c.NeedsReview() }},
			{"before", app.ChangeFilter{BeforeID: all[5].ID}, func(c *app.ChangeRequest) bool { return c.ID < all[5].ID }},
			{"combined", app.ChangeFilter{State: app.StateDraft, ConnectorID: conns[0].ID, CreatedBy: users[1].ID},
				func(c *app.ChangeRequest) bool {
					return c.State == app.StateDraft && c.ConnectorID == conns[0].ID && c.CreatedBy == users[1].ID
				}},
			{"nothing", app.ChangeFilter{State: app.StateFailed}, func(*app.ChangeRequest) bool { return false }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := db.ListChangeRequests(ctx, c.f)
				if err != nil {
					t.Fatal(err)
				}
				var ids []int64
				for _, g := range got {
					ids = append(ids, g.ID)
				}
				if want := idsWhere(c.keep); !slices.Equal(ids, want) {
					t.Errorf("ids = %v, want %v", ids, want)
				}
			})
		}

		// Children come with the page, each on its own request.
		got, err := db.ListChangeRequests(ctx, app.ChangeFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			var n int
			if _, err := fmt.Sscanf(g.Title, "c%d", &n); err != nil || len(g.Operations) != n%3 || len(g.Approvals) != n%2 {
				t.Errorf("%s: %d operations, %d approvals; want %d, %d", g.Title, len(g.Operations), len(g.Approvals), n%3, n%2)
			}
			for j, op := range g.Operations {
				if op.ChangeRequestID != g.ID || op.Seq != j {
					t.Errorf("%s: operation %d = %+v", g.Title, j, op)
				}
			}
			for _, a := range g.Approvals {
				if a.ChangeRequestID != g.ID {
					t.Errorf("%s: foreign approval %+v", g.Title, a)
				}
			}
		}

		// Keyset pagination visits every request once, newest first.
		var paged []int64
		f := app.ChangeFilter{Limit: 4}
		for {
			page, err := db.ListChangeRequests(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 4 {
				t.Fatalf("page of %d", len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, c := range page {
				paged = append(paged, c.ID)
			}
			f.BeforeID = page[len(page)-1].ID
		}
		if want := idsWhere(func(*app.ChangeRequest) bool { return true }); !slices.Equal(paged, want) {
			t.Errorf("paged ids = %v, want %v", paged, want)
		}
	})
}

func TestListChangeRequestsClampsLimit(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		mustTx(t, db, func(tx app.Tx) error {
			for i := range maxChangeLimit + 5 {
				if err := tx.CreateChangeRequest(ctx, newChange(conn.ID, u, fmt.Sprint(i), 1)); err != nil {
					return err
				}
			}
			return nil
		})
		for _, c := range []struct{ limit, want int }{{0, defaultChangeLimit}, {-1, defaultChangeLimit}, {7, 7}, {1000, maxChangeLimit}} {
			got, err := db.ListChangeRequests(ctx, app.ChangeFilter{Limit: c.limit})
			if err != nil || len(got) != c.want {
				t.Errorf("Limit %d: %d requests, %v; want %d", c.limit, len(got), err, c.want)
				continue
			}
			if len(got[len(got)-1].Operations) != 1 {
				t.Errorf("Limit %d: last request has %d operations", c.limit, len(got[len(got)-1].Operations))
			}
		}
	})
}

func TestOperations(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		c := mustCreateChange(t, db, newChange(conn.ID, u, "t", 2))
		other := mustCreateChange(t, db, newChange(conn.ID, u, "other", 1))
		oldIDs := []int64{c.Operations[0].ID, c.Operations[1].ID}

		ops := []app.ChangeOperation{
			{Seq: 0, Type: "ldap.group.add_member", Params: json.RawMessage(`{"group":"admins","uid":"bob"}`)},
			{Seq: 1, Type: "ldap.user.reset_password", Params: json.RawMessage(`{"uid":"bob"}`), Plan: "reset bob"},
			{Seq: 2, Type: "ldap.user.disable", Params: json.RawMessage(`{"uid":"eve"}`), Status: app.OpSkipped},
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.ReplaceOperations(ctx, c.ID, ops) })
		for i, op := range ops {
			if op.ID == 0 || slices.Contains(oldIDs, op.ID) || op.ChangeRequestID != c.ID {
				t.Errorf("replaced operation %d = %+v", i, op)
			}
		}
		if ops[0].Status != app.OpPending {
			t.Errorf("status = %q, want pending", ops[0].Status)
		}
		if got := mustGetChange(t, db, c.ID); !reflect.DeepEqual(got.Operations, ops) {
			t.Errorf("after ReplaceOperations =\n%+v\nwant\n%+v", got.Operations, ops)
		}
		if got := mustGetChange(t, db, other.ID); len(got.Operations) != 1 {
			t.Errorf("other request's operations touched: %+v", got.Operations)
		}

		// Execution writes status, plan, result, error and times, and a
		// reset writes the zero values back.
		op := ops[1]
		op.Status, op.Plan, op.Result, op.Error = app.OpFailed, "new plan", json.RawMessage(`{"summary":"reset uid=bob","details":{"n":1}}`), "server said no"
		op.StartedAt, op.FinishedAt = t0.Add(time.Second), t0.Add(2*time.Second)
		op.Type, op.Params = "ignored", json.RawMessage(`{"ignored":true}`) // not written
		reset := ops[1]
		reset.Status = app.OpPending
		for _, o := range []app.ChangeOperation{op, reset} {
			mustTx(t, db, func(tx app.Tx) error { return tx.UpdateOperation(ctx, &o) })
			want := o
			want.Type, want.Params = ops[1].Type, ops[1].Params
			if got := mustGetChange(t, db, c.ID).Operations[1]; !reflect.DeepEqual(got, want) {
				t.Errorf("after UpdateOperation =\n%+v\nwant\n%+v", got, want)
			}
		}
		if got := mustGetChange(t, db, c.ID).Operations[1]; got.Result != nil || !got.StartedAt.IsZero() {
			t.Errorf("reset operation = %+v; want nil result and zero times", got)
		}

		wantCode(t, db.WithTx(ctx, func(tx app.Tx) error {
			return tx.UpdateOperation(ctx, &app.ChangeOperation{ID: 9999, Status: app.OpRunning})
		}), app.ENOTFOUND)
		wantCode(t, db.WithTx(ctx, func(tx app.Tx) error {
			return tx.ReplaceOperations(ctx, c.ID, []app.ChangeOperation{{Seq: 0, Type: "x", Params: json.RawMessage(`{}`)}, {Seq: 0, Type: "y", Params: json.RawMessage(`{}`)}})
		}), app.ECONFLICT)
		// Replacing with nothing empties the request.
		mustTx(t, db, func(tx app.Tx) error { return tx.ReplaceOperations(ctx, c.ID, nil) })
		if got := mustGetChange(t, db, c.ID); len(got.Operations) != 0 {
			t.Errorf("operations after replacing with none: %+v", got.Operations)
		}
	})
}

func TestApprovals(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		a1 := mustCreateUser(t, db, newUser("a1@example.com", app.RoleApprover))
		a2 := mustCreateUser(t, db, newUser("a2@example.com", app.RoleApprover))
		c := mustCreateChange(t, db, newChange(conn.ID, u, "t", 1))
		other := mustCreateChange(t, db, newChange(conn.ID, u, "other", 0))

		approvals := []*app.Approval{
			{ChangeRequestID: c.ID, UserID: a1.ID, UserEmail: a1.Email, Decision: app.DecisionApprove, Comment: "ok", Revision: 1, At: t0},
			{ChangeRequestID: c.ID, UserID: a2.ID, UserEmail: a2.Email, Decision: app.DecisionReject, Revision: 1, At: t0.Add(time.Second)},
			{ChangeRequestID: other.ID, UserID: a1.ID, UserEmail: a1.Email, Decision: app.DecisionApprove, Revision: 1, At: t0},
		}
		mustTx(t, db, func(tx app.Tx) error {
			for _, a := range approvals {
				if err := tx.AddApproval(ctx, a); err != nil {
					return err
				}
			}
			return nil
		})
		got := mustGetChange(t, db, c.ID)
		if len(got.Approvals) != 2 || !reflect.DeepEqual(got.Approvals[0], *approvals[0]) || !reflect.DeepEqual(got.Approvals[1], *approvals[1]) {
			t.Fatalf("approvals = %+v", got.Approvals)
		}
		if got.ValidApprovals() != 1 {
			t.Errorf("ValidApprovals = %d, want 1", got.ValidApprovals())
		}

		mustTx(t, db, func(tx app.Tx) error { return tx.VoidApprovals(ctx, c.ID) })
		mustTx(t, db, func(tx app.Tx) error {
			return tx.AddApproval(ctx, &app.Approval{ChangeRequestID: c.ID, UserID: a2.ID, UserEmail: a2.Email,
				Decision: app.DecisionApprove, Revision: 2, At: t0.Add(time.Minute)})
		})
		got = mustGetChange(t, db, c.ID)
		if len(got.Approvals) != 3 || !got.Approvals[0].Void || !got.Approvals[1].Void || got.Approvals[2].Void {
			t.Errorf("after VoidApprovals = %+v; want the two old ones void, the new one not", got.Approvals)
		}
		if o := mustGetChange(t, db, other.ID); len(o.Approvals) != 1 || o.Approvals[0].Void {
			t.Errorf("other request's approvals = %+v; want untouched", o.Approvals)
		}

		for name, a := range map[string]*app.Approval{
			"unknown decision": {ChangeRequestID: c.ID, UserID: a1.ID, Decision: "maybe", Revision: 1},
			"unknown request":  {ChangeRequestID: 9999, UserID: a1.ID, Decision: app.DecisionApprove, Revision: 1},
			"unknown user":     {ChangeRequestID: c.ID, UserID: 9999, Decision: app.DecisionApprove, Revision: 1},
		} {
			want := app.ENOTFOUND
			if name == "unknown decision" {
				want = app.EINVALID
			}
			t.Run(name, func(t *testing.T) {
				wantCode(t, db.WithTx(ctx, func(tx app.Tx) error { return tx.AddApproval(ctx, a) }), want)
			})
		}
	})
}

func TestClaimExecution(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		c := newChange(conn.ID, u, "run me", 1)
		c.State = app.StateExecuting
		mustCreateChange(t, db, c)
		until := t0.Add(time.Minute)

		// Eight workers race for one request; exactly one wins.
		const workers = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		won := make([]bool, workers)
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				<-start
				errs[w] = db.WithTx(ctx, func(tx app.Tx) error {
					var err error
					won[w], err = tx.ClaimExecution(ctx, c.ID, fmt.Sprint("worker-", w), until)
					return err
				})
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		winner := slices.Index(won, true)
		if n := len(slices.DeleteFunc(slices.Clone(won), func(b bool) bool { return !b })); n != 1 {
			t.Fatalf("%d workers claimed the request, want 1", n)
		}
		owner := fmt.Sprint("worker-", winner)
		if got := mustGetChange(t, db, c.ID); got.LeaseOwner != owner || !got.LeaseExpiresAt.Equal(until) {
			t.Errorf("lease = %q until %v; want %q until %v", got.LeaseOwner, got.LeaseExpiresAt, owner, until)
		}

		approved := newChange(conn.ID, u, "not executing", 0)
		approved.State = app.StateApproved
		mustCreateChange(t, db, approved)

		later := until.Add(time.Minute)
		cases := []struct {
			name  string
			run   func(tx app.Tx) (bool, error)
			want  bool
			until time.Time // the lease expiry afterwards
		}{
			{"claim held", func(tx app.Tx) (bool, error) { return tx.ClaimExecution(ctx, c.ID, "late", later) }, false, until},
			{"renew by non-owner", func(tx app.Tx) (bool, error) { return tx.RenewLease(ctx, c.ID, "worker-x", later) }, false, until},
			{"renew by owner", func(tx app.Tx) (bool, error) { return tx.RenewLease(ctx, c.ID, owner, later) }, true, later},
			{"claim not executing", func(tx app.Tx) (bool, error) { return tx.ClaimExecution(ctx, approved.ID, "w", later) }, false, later},
			{"claim missing", func(tx app.Tx) (bool, error) { return tx.ClaimExecution(ctx, 9999, "w", later) }, false, later},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var got bool
				mustTx(t, db, func(tx app.Tx) error { var err error; got, err = tc.run(tx); return err })
				if got != tc.want {
					t.Errorf("got %v, want %v", got, tc.want)
				}
				if c := mustGetChange(t, db, c.ID); c.LeaseOwner != owner || !c.LeaseExpiresAt.Equal(tc.until) {
					t.Errorf("lease = %q until %v; want %q until %v", c.LeaseOwner, c.LeaseExpiresAt, owner, tc.until)
				}
			})
		}

		// Once the request leaves executing, its owner cannot renew.
		done := mustGetChange(t, db, c.ID)
		done.State = app.StateSucceeded
		mustTx(t, db, func(tx app.Tx) error { return tx.UpdateChangeRequest(ctx, done) })
		mustTx(t, db, func(tx app.Tx) error {
			if ok, err := tx.RenewLease(ctx, c.ID, owner, later); ok || err != nil {
				t.Errorf("RenewLease after success = %v, %v", ok, err)
			}
			return nil
		})

		for name, run := range map[string]func(tx app.Tx) error{
			"claim": func(tx app.Tx) error { _, err := tx.ClaimExecution(ctx, c.ID, "", later); return err },
			"renew": func(tx app.Tx) error { _, err := tx.RenewLease(ctx, c.ID, "", later); return err },
		} {
			t.Run("empty owner "+name, func(t *testing.T) { wantCode(t, db.WithTx(ctx, run), app.EINVALID) })
		}
	})
}

func TestWorkerQueues(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		now := t0.Add(time.Hour)
		mk := func(state app.ChangeState, owner string, expires time.Time) int64 {
			c := newChange(conn.ID, u, string(state)+owner, 0)
			c.State, c.LeaseOwner, c.LeaseExpiresAt = state, owner, expires
			return mustCreateChange(t, db, c).ID
		}
		queued1 := mk(app.StateExecuting, "", time.Time{})
		expired1 := mk(app.StateExecuting, "w1", now.Add(-time.Second))
		mk(app.StateExecuting, "w2", now.Add(time.Second)) // live
		mk(app.StateExecuting, "w3", now)                  // ends exactly now: not before now
		mk(app.StateApproved, "", time.Time{})
		mk(app.StateInterrupted, "w4", now.Add(-time.Hour))
		queued2 := mk(app.StateExecuting, "", time.Time{})
		expired2 := mk(app.StateExecuting, "w5", now.Add(-time.Hour))

		cases := []struct {
			name string
			run  func() ([]int64, error)
			want []int64
		}{
			{"queued", func() ([]int64, error) { return db.QueuedExecutions(ctx, 10) }, []int64{queued1, queued2}},
			{"queued limit", func() ([]int64, error) { return db.QueuedExecutions(ctx, 1) }, []int64{queued1}},
			{"queued default limit", func() ([]int64, error) { return db.QueuedExecutions(ctx, 0) }, []int64{queued1, queued2}},
			{"expired", func() ([]int64, error) { return db.ExpiredLeases(ctx, now) }, []int64{expired1, expired2}},
			{"expired long ago", func() ([]int64, error) { return db.ExpiredLeases(ctx, now.Add(-time.Minute)) }, []int64{expired2}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got, err := c.run(); err != nil || !slices.Equal(got, c.want) {
					t.Errorf("got %v, %v; want %v", got, err, c.want)
				}
			})
		}

		// Only expired leases are interrupted, and each only once.
		for _, ic := range []struct {
			id   int64
			want bool
		}{{expired1, true}, {expired1, false}, {queued1, false}} {
			var got bool
			mustTx(t, db, func(tx app.Tx) error {
				var err error
				got, err = tx.InterruptExpired(ctx, ic.id, now)
				return err
			})
			if got != ic.want {
				t.Errorf("InterruptExpired(%d) = %v, want %v", ic.id, got, ic.want)
			}
		}
		if c := mustGetChange(t, db, expired1); c.State != app.StateInterrupted || c.LeaseOwner != "" || !c.LeaseExpiresAt.IsZero() {
			t.Errorf("interrupted request = %s owner %q until %v", c.State, c.LeaseOwner, c.LeaseExpiresAt)
		}
	})
}

func TestReveals(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		c := mustCreateChange(t, db, newChange(conn.ID, u, "t", 3))
		ops := c.Operations

		r1 := &app.Reveal{ChangeRequestID: c.ID, OperationID: ops[0].ID, UserID: u.ID, Sealed: []byte("\x00sealed-1\xff"), CreatedAt: t0}
		r2 := &app.Reveal{ChangeRequestID: c.ID, OperationID: ops[1].ID, UserID: u.ID, Sealed: []byte("sealed-2"),
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		mustTx(t, db, func(tx app.Tx) error {
			if err := tx.CreateReveal(ctx, r1); err != nil {
				return err
			}
			return tx.CreateReveal(ctx, r2)
		})
		if r1.ID == 0 || r2.ID == r1.ID || !r1.ExpiresAt.Equal(t0.Add(app.RevealTTL)) {
			t.Fatalf("created reveals %+v, %+v", r1, r2)
		}
		if got, err := db.RevealByOperation(ctx, ops[0].ID); err != nil || !reflect.DeepEqual(got, r1) {
			t.Errorf("RevealByOperation = %+v, %v\nwant %+v", got, err, r1)
		}
		if got, err := db.RevealsForChange(ctx, c.ID); err != nil || len(got) != 2 || !reflect.DeepEqual(got[1], *r2) {
			t.Errorf("RevealsForChange = %+v, %v", got, err)
		}

		// Expiry erases r2 only.
		var n int64
		mustTx(t, db, func(tx app.Tx) error {
			var err error
			n, err = tx.DeleteExpiredReveals(ctx, t0.Add(2*time.Hour))
			return err
		})
		if n != 1 {
			t.Errorf("DeleteExpiredReveals = %d, want 1", n)
		}
		_, err := db.RevealByOperation(ctx, ops[1].ID)
		wantCode(t, err, app.ENOTFOUND)

		// Shown once: the second delete finds nothing.
		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteReveal(ctx, r1.ID) })
		_, err = db.RevealByOperation(ctx, ops[0].ID)
		wantCode(t, err, app.ENOTFOUND)
		if app.ErrMessage(err) != "nothing to reveal" {
			t.Errorf("message = %q", app.ErrMessage(err))
		}
		wantCode(t, db.WithTx(ctx, func(tx app.Tx) error { return tx.DeleteReveal(ctx, r1.ID) }), app.ENOTFOUND)

		// One reveal per operation; replacing the operations erases theirs.
		r3 := &app.Reveal{ChangeRequestID: c.ID, OperationID: ops[2].ID, UserID: u.ID, Sealed: []byte("s3"), CreatedAt: t0}
		mustTx(t, db, func(tx app.Tx) error { return tx.CreateReveal(ctx, r3) })
		dup := *r3
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.CreateReveal(ctx, &dup) })
		wantCode(t, err, app.ECONFLICT)
		if app.ErrMessage(err) != "this operation already has a secret waiting to be shown" {
			t.Errorf("message = %q", app.ErrMessage(err))
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.ReplaceOperations(ctx, c.ID, nil) })
		if got, err := db.RevealsForChange(ctx, c.ID); err != nil || len(got) != 0 {
			t.Errorf("reveals after replacing operations = %+v, %v", got, err)
		}
	})
}

func TestChangeRollbackLeavesNothing(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		err := db.WithTx(ctx, func(tx app.Tx) error {
			conn := newConnector("ghost")
			if err := tx.CreateConnector(ctx, conn); err != nil {
				return err
			}
			c := newChange(conn.ID, u, "ghost", 2)
			c.State = app.StateExecuting
			if err := tx.CreateChangeRequest(ctx, c); err != nil {
				return err
			}
			if err := tx.AddApproval(ctx, &app.Approval{ChangeRequestID: c.ID, UserID: u.ID, Decision: app.DecisionApprove, Revision: 1}); err != nil {
				return err
			}
			if err := tx.CreateReveal(ctx, &app.Reveal{ChangeRequestID: c.ID, OperationID: c.Operations[0].ID, UserID: u.ID, Sealed: []byte("s")}); err != nil {
				return err
			}
			// Reads inside the transaction see its own writes.
			if got, err := tx.ListChangeRequests(ctx, app.ChangeFilter{}); err != nil || len(got) != 1 || len(got[0].Approvals) != 1 {
				return fmt.Errorf("list inside tx = %+v, %v", got, err)
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("WithTx = %v, want the fn's error", err)
		}
		if cs, err := db.ListConnectors(ctx); err != nil || len(cs) != 0 {
			t.Errorf("connectors after rollback = %+v, %v", cs, err)
		}
		if cs, err := db.ListChangeRequests(ctx, app.ChangeFilter{}); err != nil || len(cs) != 0 {
			t.Errorf("change requests after rollback = %+v, %v", cs, err)
		}
		if ids, err := db.QueuedExecutions(ctx, 10); err != nil || len(ids) != 0 {
			t.Errorf("queue after rollback = %v, %v", ids, err)
		}
	})
}

// TestMigrateFrom0001 upgrades a database that has lived on 0001 (users,
// sessions, audit records) and uses the new tables with its users.
func TestMigrateFrom0001(t *testing.T) {
	run := func(t *testing.T, db *DB) {
		ctx := t.Context()
		ms, err := db.dialect.migrations()
		if err != nil {
			t.Fatal(err)
		}
		if did, err := db.migrateNext(ctx, ms[:1]); err != nil || !did {
			t.Fatalf("apply 0001 = %v, %v", did, err)
		}
		if applied, latest, err := db.SchemaVersion(ctx); err != nil || applied != 1 || latest < 2 {
			t.Fatalf("SchemaVersion = %d, %d, %v", applied, latest, err)
		}
		u := mustCreateUser(t, db, newUser("old@example.com", app.RoleAdmin))
		mustTx(t, db, func(tx app.Tx) error {
			return tx.CreateSession(ctx, &app.Session{ID: "s", UserID: u.ID, SessionVersion: 1, CreatedAt: t0, LastSeenAt: t0})
		})
		appendN(t, db, 3)

		n, err := db.Migrate(ctx)
		if err != nil || n != len(ms)-1 {
			t.Fatalf("Migrate = %d, %v; want %d", n, err, len(ms)-1)
		}
		if got, err := db.UserByID(ctx, u.ID); err != nil || got.Email != u.Email {
			t.Errorf("user after migration = %+v, %v", got, err)
		}
		if _, err := db.SessionByID(ctx, "s"); err != nil {
			t.Errorf("session after migration: %v", err)
		}
		if n := verifyChain(t, db); n != 3 {
			t.Errorf("audit chain length %d, want 3", n)
		}
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		c := mustCreateChange(t, db, newChange(conn.ID, u, "first", 1))
		if got := mustGetChange(t, db, c.ID); got.CreatedBy != u.ID || len(got.Operations) != 1 {
			t.Errorf("change request after migration = %+v", got)
		}
	}

	openBoth(t, false, run)
}

// TestWorkerQueriesUseIndexes: the worker polls the queue and the lease
// sweep, and the console counts changes awaiting review; none of them may
// scan the whole table.
func TestWorkerQueriesUseIndexes(t *testing.T) {
	db := mustOpenSQLite(t)
	for _, q := range []struct {
		query string
		args  []any
	}{
		{"SELECT id FROM change_requests WHERE state = '" + executing + "' AND lease_owner = '' ORDER BY id LIMIT ?", []any{10}},
		{"SELECT id FROM change_requests WHERE state = '" + executing + "' AND lease_owner <> '' AND lease_expires_at < ? ORDER BY id", []any{1}},
		{"SELECT id FROM change_requests WHERE emergency AND reviewed_by = 0 ORDER BY id DESC LIMIT ?", []any{10}},
	} {
		rows, err := db.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.query, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		// A SCAN is a full pass, except over a partial index, which holds
		// only the rows the query wants.
		if slices.ContainsFunc(plan, func(d string) bool {
			return strings.HasPrefix(d, "SCAN") && !strings.Contains(d, "INDEX change_requests_needs_review")
		}) {
			t.Errorf("%s\nplan %q scans change_requests", q.query, plan)
		}
	}
}
