package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// TestTwoEnginesNeverRunTheSameRequest runs two engines (as two servers
// would) on one database: every queued request runs exactly once. On
// PostgreSQL (NEXPLANE_TEST_POSTGRES_URL) this is the multi-server case.
func TestTwoEnginesNeverRunTheSameRequest(t *testing.T) {
	dir := ldaptest.Start(t)
	var engines []*engine.Engine
	notifyAll := func(id int64) {
		for _, e := range engines {
			e.Notify(id)
		}
	}
	k := testkit.NewService(t, testkit.Options{
		Drivers:   func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) { ldap.Register(reg) },
		Configure: func(c *app.Config) { c.Queued = notifyAll },
	})
	db, svc := k.DB, k.Service
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for i := 0; i < 2; i++ {
		e := engine.New(engine.Config{Store: db, Registry: k.Registry, Sealer: k.Vault, Poll: 20 * time.Millisecond, Workers: 3})
		engines = append(engines, e)
		go func() { e.Run(ctx); done <- struct{}{} }()
	}
	t.Cleanup(func() { cancel(); <-done; <-done })
	sys := app.SystemActor("test")
	op, appr := operatorAndApprover(t, svc)
	conn, err := svc.CreateConnector(ctx, sys, app.ConnectorInput{Name: "dir", Type: "ldap", Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()})
	if err != nil {
		t.Fatal(err)
	}

	const n = 12
	var ids []int64
	for i := 0; i < n; i++ {
		// Independent changes (one new user each), so parallel runs cannot
		// conflict in the directory itself.
		params := fmt.Sprintf(`{"uid":"user%d","cn":"User %d","sn":"Test","mail":"user%d@example.org"}`, i, i, i)
		ids = append(ids, approvedChange(ctx, t, svc, op, appr, app.ChangeInput{Title: fmt.Sprint("change ", i), ConnectorID: conn.ID,
			Operations: []app.OpInput{{Type: "ldap.user.create", Params: []byte(params)}}}))
	}
	for _, id := range ids {
		if _, err := svc.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for {
			c, err := svc.GetChange(ctx, op, id)
			if err != nil {
				t.Fatal(err)
			}
			if c.State == app.StateSucceeded {
				break
			}
			if c.State != app.StateExecuting || time.Now().After(deadline) {
				t.Fatalf("change %d ended %s: %s", id, c.State, c.Operations[0].Error)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, ev := range []string{"change.operation_started", "change.operation_succeeded", "change.succeeded"} {
			evs, err := db.ListAudit(ctx, app.AuditFilter{ResourceType: "change_request", ResourceID: fmt.Sprint(id), Event: ev})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 {
				t.Errorf("change %d: %d %s records, want exactly 1", id, len(evs), ev)
			}
		}
	}
}
