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

// BenchmarkDrain measures how fast one engine with the default workers and
// per-connector limit drains 200 queued single-operation requests (one
// ldap.user.create each against slapd). The store is SQLite, or PostgreSQL
// when NEXPLANE_TEST_POSTGRES_URL is set. Figures: BENCHMARKS.md.
func BenchmarkDrain(b *testing.B) {
	const n = 200
	dir := ldaptest.Start(b)
	k := testkit.NewService(b, testkit.Options{
		Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) { ldap.Register(reg) },
	})
	ctx, svc := context.Background(), k.Service
	op, appr := operatorAndApprover(b, svc)
	conn, err := svc.CreateConnector(ctx, app.SystemActor("bench"), app.ConnectorInput{Name: "dir", Type: "ldap",
		Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()})
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		ids := make([]int64, n)
		for i := range ids {
			ids[i] = approvedChange(ctx, b, svc, op, appr, app.ChangeInput{Title: fmt.Sprint("drain ", i), ConnectorID: conn.ID,
				Operations: createUserOp(fmt.Sprintf("drain%d-%d", iter, i))})
		}
		for _, id := range ids {
			if _, err := svc.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
				b.Fatal(err)
			}
		}
		e := engine.New(engine.Config{Store: k.DB, Registry: k.Registry, Sealer: k.Vault, Logger: k.Log})
		runCtx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		b.StartTimer()
		start := time.Now()
		go func() { defer close(stopped); e.Run(runCtx) }()
		for {
			left, err := k.DB.ListChangeRequests(ctx, app.ChangeFilter{State: app.StateExecuting, Limit: 1})
			if err != nil {
				b.Fatal(err)
			}
			if len(left) == 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		cancel()
		<-stopped
		failed, err := k.DB.ListChangeRequests(ctx, app.ChangeFilter{State: app.StateFailed, Limit: 1})
		if err != nil || len(failed) != 0 {
			b.Fatalf("failed requests after the drain: %v %v", failed, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "requests/s")
}
