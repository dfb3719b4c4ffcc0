package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

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
		if got.ApprovalsOfRevision() != 1 {
			t.Errorf("ApprovalsOfRevision = %d, want 1", got.ApprovalsOfRevision())
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
