package store

import (
	"slices"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestApprovalBindingColumns: connector versions, approval content hashes,
// contributors (creator first, each once, in lists too) and the requests
// a connector change voids, on both dialects.
func TestApprovalBindingColumns(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		if conn.Version != 1 {
			t.Fatalf("new connector version %d, want 1", conn.Version)
		}
		conn.Version = 5
		mustTx(t, db, func(tx app.Tx) error { return tx.UpdateConnector(ctx, conn) })
		if got, err := db.ConnectorByID(ctx, conn.ID); err != nil || got.Version != 5 {
			t.Fatalf("version after update = %+v, %v", got, err)
		}

		creator := mustCreateUser(t, db, newUser("zed@example.com", app.RoleOperator))
		editor := mustCreateUser(t, db, newUser("amy@example.com", app.RoleAdmin))
		appr := mustCreateUser(t, db, newUser("appr@example.com", app.RoleApprover))
		c := newChange(conn.ID, creator, "t", 1)
		c.Contributors = []app.Contributor{{UserID: creator.ID, Email: creator.Email}} // the creator again: kept once
		mustCreateChange(t, db, c)
		mustTx(t, db, func(tx app.Tx) error {
			for range 2 { // recording an editor twice keeps one row
				if err := tx.AddContributor(ctx, c.ID, app.Contributor{UserID: editor.ID, Email: editor.Email}); err != nil {
					return err
				}
			}
			return tx.AddApproval(ctx, &app.Approval{ChangeRequestID: c.ID, UserID: appr.ID, UserEmail: appr.Email,
				Decision: app.DecisionApprove, Revision: 1, ContentHash: "abc123", At: t0})
		})
		want := []app.Contributor{{UserID: creator.ID, Email: creator.Email}, {UserID: editor.ID, Email: editor.Email}}
		got := mustGetChange(t, db, c.ID)
		if !slices.Equal(got.Contributors, want) || got.Approvals[0].ContentHash != "abc123" {
			t.Fatalf("contributors %+v, approvals %+v", got.Contributors, got.Approvals)
		}
		list, err := db.ListChangeRequests(ctx, app.ChangeFilter{ConnectorID: conn.ID})
		if err != nil || len(list) != 1 || !slices.Equal(list[0].Contributors, want) {
			t.Fatalf("listed contributors %+v, %v", list, err)
		}

		// Submitted and approved requests await execution; others do not.
		ids := map[app.ChangeState]int64{}
		for _, st := range []app.ChangeState{app.StateApproved, app.StateSubmitted, app.StateDraft, app.StateSucceeded} {
			x := newChange(conn.ID, creator, string(st), 1)
			x.State = st
			ids[st] = mustCreateChange(t, db, x).ID
		}
		other := mustCreateConnector(t, db, newConnector("other"))
		y := newChange(other.ID, creator, "elsewhere", 1)
		y.State = app.StateApproved
		mustCreateChange(t, db, y)
		awaiting, err := db.ChangesAwaitingExecution(ctx, conn.ID)
		if err != nil || !slices.Equal(awaiting, []int64{ids[app.StateApproved], ids[app.StateSubmitted]}) {
			t.Errorf("ChangesAwaitingExecution = %v, %v", awaiting, err)
		}
	})
}
