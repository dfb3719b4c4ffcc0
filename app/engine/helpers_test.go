package engine_test

import (
	"context"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// operatorAndApprover creates the two users a change request needs.
func operatorAndApprover(t testing.TB, svc *app.Service) (op, appr app.Actor) {
	t.Helper()
	mk := func(email string, role app.Role) app.Actor {
		return app.UserActor(testkit.MustCreateUser(t, svc, email, role))
	}
	return mk("op@example.com", app.RoleOperator), mk("appr@example.com", app.RoleApprover)
}

// approvedChange creates, submits and approves a change request.
func approvedChange(ctx context.Context, t testing.TB, svc *app.Service, op, appr app.Actor, in app.ChangeInput) int64 {
	t.Helper()
	c, err := svc.CreateChange(ctx, op, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitChange(ctx, op, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ApproveChange(ctx, appr, c.ID, app.DecisionInput{Revision: c.Revision}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}
