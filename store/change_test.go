package store

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// ownFields is c without its children, for comparing what UpdateChangeRequest wrote.
func ownFields(c app.ChangeRequest) app.ChangeRequest {
	c.Operations, c.Approvals = nil, nil
	return c
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
		full.InterruptCause, full.Requeues = "server shut down", 2
		full.UpdatedAt, full.SubmittedAt, full.StartedAt, full.FinishedAt = t0.Add(6*time.Hour), t0.Add(time.Minute), t0.Add(2*time.Minute), t0.Add(3*time.Minute)
		// …then every optional one cleared again.
		cleared := full
		cleared.State, cleared.Emergency, cleared.EmergencyJustification, cleared.EmergencyBy = app.StateDraft, false, "", 0
		cleared.ReviewedBy, cleared.ReviewedAt, cleared.ReviewComment = 0, time.Time{}, ""
		cleared.LeaseOwner, cleared.LeaseExpiresAt = "", time.Time{}
		cleared.InterruptCause, cleared.Requeues = "", 0
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
