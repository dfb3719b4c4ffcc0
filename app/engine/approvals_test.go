package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// TestEngineRecountsApprovals: a request queued for execution whose only
// approver is disabled before the engine picks it up never touches its
// target: the engine fails it, skips its operations and audits why.
func TestEngineRecountsApprovals(t *testing.T) {
	dir := ldaptest.Start(t)
	k := testkit.NewService(t, testkit.Options{Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) { ldap.Register(reg) }})
	db, svc := k.DB, k.Service
	ctx, sys := context.Background(), app.SystemActor("test")
	op, appr := operatorAndApprover(t, svc)
	conn, err := svc.CreateConnector(ctx, sys, app.ConnectorInput{Name: "dir", Type: "ldap", Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()})
	if err != nil {
		t.Fatal(err)
	}
	id := approvedChange(ctx, t, svc, op, appr, app.ChangeInput{Title: "new user", ConnectorID: conn.ID,
		Operations: []app.OpInput{{Type: "ldap.user.create", Params: []byte(`{"uid":"late","cn":"Late User","sn":"User","mail":"late@example.org"}`)}}})
	if _, err := svc.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
		t.Fatal(err)
	}
	disabled := true
	apprID := userIDOf(t, appr)
	if _, err := svc.UpdateUser(ctx, sys, apprID, app.UserPatch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	e := engine.New(engine.Config{Store: db, Registry: k.Registry, Sealer: k.Vault, Poll: 10 * time.Millisecond})
	go func() { e.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.Now().Add(30 * time.Second)
	var c *app.ChangeRequest
	for {
		if c, err = db.ChangeRequestByID(ctx, id); err != nil {
			t.Fatal(err)
		}
		if c.State != app.StateExecuting || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c.State != app.StateFailed || c.Operations[0].Status != app.OpSkipped {
		t.Fatalf("state %s, operation %s; want failed and skipped", c.State, c.Operations[0].Status)
	}
	evs, err := db.ListAudit(ctx, app.AuditFilter{ResourceType: "change_request", ResourceID: fmt.Sprint(id), Event: "change.failed"})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Payload), "valid approval") {
		t.Fatalf("change.failed audit: %v, %v", evs, err)
	}
	if started, _ := db.ListAudit(ctx, app.AuditFilter{ResourceType: "change_request", ResourceID: fmt.Sprint(id),
		Event: "change.operation_started"}); len(started) != 0 {
		t.Errorf("an operation started: %v", started)
	}
}

func userIDOf(t *testing.T, a app.Actor) int64 {
	t.Helper()
	var id int64
	if _, err := fmt.Sscan(a.ID, &id); err != nil {
		t.Fatal(err)
	}
	return id
}
