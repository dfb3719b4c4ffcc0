package store

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

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
