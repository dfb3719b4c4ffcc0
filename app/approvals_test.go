package app_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestExecuteRecountsApprovals: execute counts again, from scratch, the
// approvals of an approved request. One that no longer has enough goes back
// to submitted with an audit record saying why; an emergency is exempt.
func TestExecuteRecountsApprovals(t *testing.T) {
	e := newActionsEnv(t)
	ctx, sys := context.Background(), app.SystemActor("test")
	approver := e.others[app.RoleApprover] // the fixture's approval is theirs
	setRole := func(r app.Role, disabled bool) {
		role := string(r)
		if _, err := e.svc.UpdateUser(ctx, sys, approver.ID, app.UserPatch{Role: &role, Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
	}
	inTx := func(fn func(tx app.Tx) error) {
		if err := e.db.WithTx(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		emergency bool
		mutate    func(c *app.ChangeRequest)
		undo      func()
		wantRun   bool
	}{
		{name: "approvals still count", wantRun: true},
		{name: "approver disabled", mutate: func(*app.ChangeRequest) { setRole(app.RoleApprover, true) },
			undo: func() { setRole(app.RoleApprover, false) }},
		{name: "approver demoted", mutate: func(*app.ChangeRequest) { setRole(app.RoleViewer, false) },
			undo: func() { setRole(app.RoleApprover, false) }},
		{name: "approver became a contributor", mutate: func(c *app.ChangeRequest) {
			inTx(func(tx app.Tx) error {
				return tx.AddContributor(ctx, c.ID, app.Contributor{UserID: approver.ID, Email: approver.Email})
			})
		}},
		{name: "policy raised", mutate: func(*app.ChangeRequest) {
			inTx(func(tx app.Tx) error {
				conn, err := tx.ConnectorByID(ctx, e.conn.ID)
				if err != nil {
					return err
				}
				conn.RequiredApprovals = 2 // as it is now, whatever it was at approval
				return tx.UpdateConnector(ctx, conn)
			})
		}, undo: func() {
			inTx(func(tx app.Tx) error {
				conn, err := tx.ConnectorByID(ctx, e.conn.ID)
				if err != nil {
					return err
				}
				conn.RequiredApprovals = 1
				return tx.UpdateConnector(ctx, conn)
			})
		}},
		{name: "operations replaced under the approval", mutate: func(c *app.ChangeRequest) {
			ops := []app.ChangeOperation{{Type: "ldap.user.disable", Params: json.RawMessage(`{"uid":"alice"}`)}}
			inTx(func(tx app.Tx) error { return tx.ReplaceOperations(ctx, c.ID, ops) })
		}},
		{name: "connector version moved under the approval", mutate: func(*app.ChangeRequest) {
			inTx(func(tx app.Tx) error {
				conn, err := tx.ConnectorByID(ctx, e.conn.ID)
				if err != nil {
					return err
				}
				conn.Version++
				return tx.UpdateConnector(ctx, conn)
			})
		}},
		{name: "emergency is exempt", emergency: true, wantRun: true,
			mutate: func(*app.ChangeRequest) { setRole(app.RoleApprover, true) },
			undo:   func() { setRole(app.RoleApprover, false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.fixture(app.RoleAdmin, app.StateApproved, contribution{})
			if tc.mutate != nil {
				tc.mutate(c)
			}
			if tc.undo != nil {
				t.Cleanup(tc.undo)
			}
			actor := app.UserActor(e.users[app.RoleOperator])
			in := app.ExecuteInput{}
			if tc.emergency {
				actor, in = app.UserActor(e.users[app.RoleAdmin]), app.ExecuteInput{Emergency: true, Justification: "the outage cannot wait"}
			}
			_, err := e.svc.ExecuteChange(ctx, actor, c.ID, in)
			got, gerr := e.db.ChangeRequestByID(ctx, c.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tc.wantRun {
				if err != nil || got.State != app.StateExecuting {
					t.Fatalf("execute: %v, state %s", err, got.State)
				}
				return
			}
			if app.ErrCode(err) != app.ECONFLICT || !strings.Contains(app.ErrMessage(err), "valid approval") || got.State != app.StateSubmitted {
				t.Fatalf("execute: %v, state %s; want a conflict and submitted", err, got.State)
			}
			evs, err := e.db.ListAudit(ctx, app.AuditFilter{ResourceType: "change_request", ResourceID: idStr(c.ID),
				Event: "change.approvals_insufficient"})
			if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Payload), `"reason"`) {
				t.Errorf("audit: %v, %v", evs, err)
			}
		})
	}
}

func idStr(id int64) string { return strconv.FormatInt(id, 10) }

// TestContentHash: the hash covers operations, their canonical parameters,
// the connector and its version, and nothing else.
func TestContentHash(t *testing.T) {
	conn := &app.Connector{ID: 1, Version: 1}
	base := &app.ChangeRequest{Title: "a", Operations: []app.ChangeOperation{{Type: "ldap.user.disable", Params: json.RawMessage(`{"uid":"bob","n":1}`)}}}
	h := app.ContentHash(base, conn)
	for _, tc := range []struct {
		name string
		c    *app.ChangeRequest
		conn *app.Connector
		same bool
	}{
		{"title and key order do not matter", &app.ChangeRequest{Title: "b", Operations: []app.ChangeOperation{{Type: "ldap.user.disable",
			Params: json.RawMessage(`{ "n":1, "uid":"bob" }`)}}}, conn, true},
		{"parameters", &app.ChangeRequest{Operations: []app.ChangeOperation{{Type: "ldap.user.disable", Params: json.RawMessage(`{"uid":"alice","n":1}`)}}}, conn, false},
		{"number text", &app.ChangeRequest{Operations: []app.ChangeOperation{{Type: "ldap.user.disable", Params: json.RawMessage(`{"uid":"bob","n":1.0}`)}}}, conn, false},
		{"type", &app.ChangeRequest{Operations: []app.ChangeOperation{{Type: "ldap.user.lock", Params: json.RawMessage(`{"uid":"bob","n":1}`)}}}, conn, false},
		{"connector version", base, &app.Connector{ID: 1, Version: 2}, false},
		{"connector", base, &app.Connector{ID: 2, Version: 1}, false},
	} {
		if got := app.ContentHash(tc.c, tc.conn); (got == h) != tc.same {
			t.Errorf("%s: same hash = %v, want %v", tc.name, got == h, tc.same)
		}
	}
}
