package app_test

import (
	"context"
	"slices"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
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

func changeIDs(cs []app.ChangeRequest) []int64 {
	ids := make([]int64, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

// TestDashboardOperatorWork: an operator sees their drafts, their requests
// waiting for approval, the approved requests they may execute and their
// failed ones, and nobody else's drafts, waiting or failed requests. A
// viewer gets none of these lists.
func TestDashboardOperatorWork(t *testing.T) {
	e := newActionsEnv(t)
	ctx := context.Background()
	mine := contribution{creator: true}
	draft := e.fixture(app.RoleOperator, app.StateDraft, mine)
	waiting := e.fixture(app.RoleOperator, app.StateSubmitted, mine)
	failed := e.fixture(app.RoleOperator, app.StateFailed, mine)
	approved := e.fixture(app.RoleOperator, app.StateApproved, contribution{})
	ownApproved := e.fixture(app.RoleOperator, app.StateApproved, mine)
	// Someone else's, which the operator's lists leave out.
	e.fixture(app.RoleOperator, app.StateDraft, contribution{})
	e.fixture(app.RoleOperator, app.StateSubmitted, contribution{})
	e.fixture(app.RoleOperator, app.StateFailed, contribution{})
	e.fixture(app.RoleOperator, app.StateSucceeded, mine)

	op := app.UserActor(e.users[app.RoleOperator])
	d, err := e.svc.Dashboard(ctx, op)
	if err != nil {
		t.Fatal(err)
	}
	if !d.MayWork {
		t.Fatal("an operator's dashboard has no work lists")
	}
	for _, l := range []struct {
		name string
		got  []app.ChangeRequest
		want []int64
	}{
		{"drafts", d.MyDrafts, []int64{draft.ID}},
		{"waiting", d.MyWaiting, []int64{waiting.ID}},
		{"failed", d.MyFailed, []int64{failed.ID}},
	} {
		if got := changeIDs(l.got); !slices.Equal(got, l.want) {
			t.Errorf("%s = %v, want %v", l.name, got, l.want)
		}
	}
	// Ready to execute is what app lets the operator execute now, newest first.
	var want []int64
	for _, c := range []*app.ChangeRequest{ownApproved, approved} {
		if e.svc.ChangeActions(op, c).Allowed(app.ActionExecute) {
			want = append(want, c.ID)
		}
	}
	if got := changeIDs(d.ReadyToExecute); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("ready to execute = %v, want %v", got, want)
	}
	if d.GettingStarted != nil {
		t.Errorf("an install with people, a connector and change requests shows the checklist: %+v", d.GettingStarted)
	}

	d, err = e.svc.Dashboard(ctx, app.UserActor(e.users[app.RoleViewer]))
	if err != nil {
		t.Fatal(err)
	}
	if d.MayWork || d.MyDrafts != nil || d.ReadyToExecute != nil {
		t.Errorf("a viewer's dashboard has work lists: %+v", d)
	}
}

// TestDashboardGettingStarted: an empty install shows the checklist, each
// step done as the install gets it, links only where the reader may act;
// it goes away once every step is done.
func TestDashboardGettingStarted(t *testing.T) {
	k := testkit.NewService(t, testkit.Options{Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) { ldap.Register(reg) }})
	ctx := context.Background()
	admin := testkit.MustCreateUser(t, k.Service, "admin@example.com", app.RoleAdmin)
	d, err := k.Service.Dashboard(ctx, app.UserActor(admin))
	if err != nil {
		t.Fatal(err)
	}
	want := app.GettingStarted{CanUsers: true, CanConnector: true, CanChange: true}
	if d.GettingStarted == nil || *d.GettingStarted != want {
		t.Fatalf("empty install: %+v, want %+v", d.GettingStarted, want)
	}
	viewer := testkit.MustCreateUser(t, k.Service, "viewer@example.com", app.RoleViewer)
	d, err = k.Service.Dashboard(ctx, app.UserActor(viewer))
	if err != nil {
		t.Fatal(err)
	}
	if want := (app.GettingStarted{UsersDone: true}); d.GettingStarted == nil || *d.GettingStarted != want {
		t.Fatalf("viewer, two people: %+v, want %+v", d.GettingStarted, want)
	}
}
