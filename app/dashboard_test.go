package app_test

import (
	"context"
	"slices"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestDashboardAwaitingApproval lists only what the approver may approve
// now: not their own request, not one they already approved.
func TestDashboardAwaitingApproval(t *testing.T) {
	e := newActionsEnv(t)
	ctx := context.Background()
	others := e.fixture(app.RoleAdmin, app.StateSubmitted, contribution{})
	own := e.fixture(app.RoleAdmin, app.StateSubmitted, contribution{creator: true})
	approved := e.fixture(app.RoleAdmin, app.StateSubmitted, contribution{approved: true})
	draft := e.fixture(app.RoleAdmin, app.StateDraft, contribution{})

	d, err := e.svc.Dashboard(ctx, app.UserActor(e.users[app.RoleAdmin]))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, c := range d.AwaitingApproval {
		ids = append(ids, c.ID)
	}
	if !d.MayApprove || !slices.Equal(ids, []int64{others.ID}) {
		t.Fatalf("awaiting approval %v (may approve %v), want [%d]; not %d (own), %d (approved), %d (draft)",
			ids, d.MayApprove, others.ID, own.ID, approved.ID, draft.ID)
	}
	if !d.Actions.Allowed(app.ActionAcknowledge) || d.Agents == nil || d.OpenFindings == nil {
		t.Errorf("dashboard %+v", d)
	}

	// An operator approves nothing: no list at all.
	d, err = e.svc.Dashboard(ctx, app.UserActor(e.users[app.RoleOperator]))
	if err != nil || d.MayApprove || len(d.AwaitingApproval) != 0 {
		t.Fatalf("operator dashboard: %+v, %v", d, err)
	}
}
