package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// gateDriver is a connector type for these tests only: each operation
// announces that it started, then waits for the gate (or for its context
// to end, as a target that never answers does).
type gateDriver struct {
	started chan int
	gate    chan struct{}
}

func (d *gateDriver) Type() string               { return "gatetest" }
func (d *gateDriver) ConfigSpec() app.ConfigSpec { return app.ConfigSpec{Label: "gate test"} }
func (d *gateDriver) ValidateConfig(json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}
func (d *gateDriver) ValidateCredentials([]byte) error { return nil }
func (d *gateDriver) Connect(context.Context, json.RawMessage, []byte) (app.Conn, error) {
	return keyConn{}, nil
}

type gateOp struct {
	N int `json:"n"`
	d *gateDriver
}

func (o *gateOp) Validate() error                                { return nil }
func (o *gateOp) Plan(context.Context, app.Conn) (string, error) { return "waits for the gate", nil }
func (o *gateOp) Execute(ctx context.Context, _ app.Conn) (*app.OpResult, error) {
	o.d.started <- o.N
	select {
	case <-o.d.gate:
		return &app.OpResult{Summary: fmt.Sprint("passed ", o.N)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// observeOp is a gateOp that can also tell whether it applied: Observe
// announces itself (as -N) and waits for the gate like Execute, as a read
// of a slow target does.
type observeOp struct{ gateOp }

func (o *observeOp) Observe(ctx context.Context, _ app.Conn) (app.Reconciliation, error) {
	o.d.started <- -o.N
	select {
	case <-o.d.gate:
		return app.Reconciliation{Outcome: app.OutcomeApplied, Reason: "it is there"}, nil
	case <-ctx.Done():
		return app.Reconciliation{}, ctx.Err()
	}
}

type drainEnv struct {
	t        *testing.T
	d        *gateDriver
	k        *testkit.Env
	op       app.Actor
	change   func() int64
	changeOf func(firstType string) int64
}

func newDrainEnv(t *testing.T) *drainEnv {
	d := &gateDriver{started: make(chan int, 10), gate: make(chan struct{})}
	k := testkit.NewService(t, testkit.Options{Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) {
		reg.RegisterDriver(d)
		reg.RegisterOperation(app.OperationSpec{Type: "gatetest.wait", ConnectorType: "gatetest",
			New: func() app.Operation { return &gateOp{d: d} }})
		reg.RegisterOperation(app.OperationSpec{Type: "gatetest.observe", ConnectorType: "gatetest",
			New: func() app.Operation { return &observeOp{gateOp{d: d}} }})
	}})
	ctx := context.Background()
	op, appr := operatorAndApprover(t, k.Service)
	conn, err := k.Service.CreateConnector(ctx, app.SystemActor("test"), app.ConnectorInput{Name: "gates", Type: "gatetest",
		Config: json.RawMessage(`{}`), Credentials: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	e := &drainEnv{t: t, d: d, k: k, op: op}
	e.change = func() int64 { return e.changeOf("gatetest.wait") }
	e.changeOf = func(first string) int64 {
		id := approvedChange(ctx, t, k.Service, op, appr, app.ChangeInput{Title: "gates", ConnectorID: conn.ID, Operations: []app.OpInput{
			{Type: first, Params: []byte(`{"n":1}`)}, {Type: "gatetest.wait", Params: []byte(`{"n":2}`)}}})
		if _, err := k.Service.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	return e
}

// start runs an engine until the returned stop is called; stop returns
// when Run has returned.
func (e *drainEnv) start(drain time.Duration) (stop func()) {
	_, stop = e.startEngine(drain)
	return stop
}

func (e *drainEnv) startEngine(drain time.Duration) (*engine.Engine, func()) {
	eng := engine.New(engine.Config{Store: e.k.DB, Registry: e.k.Registry, Sealer: e.k.Vault, Poll: 20 * time.Millisecond,
		LeaseTTL: time.Minute, DrainTimeout: drain})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return eng, func() { cancel(); <-done }
}

func (e *drainEnv) waitStarted(want int) {
	e.t.Helper()
	select {
	case n := <-e.d.started:
		if n != want {
			e.t.Fatalf("operation %d started, want %d", n, want)
		}
	case <-time.After(30 * time.Second):
		e.t.Fatalf("operation %d never started", want)
	}
}

func (e *drainEnv) get(id int64) *app.ChangeRequest {
	e.t.Helper()
	c, err := e.k.Service.GetChange(context.Background(), e.op, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *drainEnv) audit(id int64, event string) []app.AuditEvent {
	e.t.Helper()
	evs, err := e.k.DB.ListAudit(context.Background(), app.AuditFilter{ResourceType: "change_request", ResourceID: fmt.Sprint(id), Event: event})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// TestDrainFinishesTheOperationInFlight: on shutdown the engine lets the
// running operation finish and records it, starts nothing more, and hands
// the request back with its lease released; the next engine continues it
// at once, without a lease wait or a person.
func TestDrainFinishesTheOperationInFlight(t *testing.T) {
	e := newDrainEnv(t)
	id := e.change()
	engA, stopA := e.startEngine(time.Minute)
	e.waitStarted(1)

	stopped := make(chan struct{})
	go func() { stopA(); close(stopped) }()
	waitFor(t, engA.Draining)
	select {
	case <-stopped:
		t.Fatal("Run returned while an operation was still running")
	default:
	}
	e.d.gate <- struct{}{} // the target answers during the drain
	<-stopped

	c := e.get(id)
	if c.State != app.StateExecuting || c.LeaseOwner != "" {
		t.Fatalf("after the drain: %s, lease %q; want executing and released", c.State, c.LeaseOwner)
	}
	if c.Operations[0].Status != app.OpSucceeded || c.Operations[1].Status != app.OpPending || !c.Operations[1].StartedAt.IsZero() {
		t.Errorf("operations %s, %s (second started %v); want the first recorded, the second not started",
			c.Operations[0].Status, c.Operations[1].Status, c.Operations[1].StartedAt)
	}
	if c.InterruptCause != "server shut down" || c.Requeues != 0 {
		t.Errorf("cause %q, requeues %d; want the shutdown, not counted", c.InterruptCause, c.Requeues)
	}
	if evs := e.audit(id, "change.requeued"); len(evs) != 1 || !strings.Contains(string(evs[0].Payload), "server shut down") {
		t.Errorf("change.requeued records %v, want one naming the shutdown", evs)
	}

	e.start(time.Minute)
	e.waitStarted(2)
	e.d.gate <- struct{}{}
	waitFor(t, func() bool { return e.get(id).State == app.StateSucceeded })
	if n := len(e.audit(id, "change.operation_started")); n != 2 {
		t.Errorf("%d operation starts, want 2: nothing ran twice", n)
	}
	verifyAudit(t, e.k.Service)
}

// TestDrainTimeoutLeavesTheOutcomeToReconcile: an operation still running
// when the drain timeout ends is cancelled; the request is handed back with
// that operation's outcome unknown (started, no result), which the next
// run settles before anything else.
func TestDrainTimeoutLeavesTheOutcomeToReconcile(t *testing.T) {
	e := newDrainEnv(t)
	id := e.change()
	stopA := e.start(10 * time.Millisecond)
	e.waitStarted(1)
	stopA() // the target never answers: the timeout cancels the operation

	c := e.get(id)
	if c.State != app.StateExecuting || c.LeaseOwner != "" {
		t.Fatalf("after the drain: %s, lease %q; want executing and released", c.State, c.LeaseOwner)
	}
	if o := c.Operations[0]; !o.OutcomeUnknown() || !strings.Contains(o.Error, "server shut down while the operation ran") {
		t.Errorf("first operation %s %q; want its outcome unknown, with the cause", o.Status, o.Error)
	}
	if !strings.Contains(c.InterruptCause, "server shut down") || c.Requeues != 0 {
		t.Errorf("cause %q, requeues %d", c.InterruptCause, c.Requeues)
	}

	e.start(time.Minute)
	e.waitStarted(1) // not an Observer: it runs again
	e.d.gate <- struct{}{}
	e.waitStarted(2)
	e.d.gate <- struct{}{}
	waitFor(t, func() bool { return e.get(id).State == app.StateSucceeded })
	verifyAudit(t, e.k.Service)
}

// TestDrainDuringAReconcilingRead: the server stops while it asks the
// target whether an operation of a crashed run applied. The drain timeout
// cancels the read; nothing is decided or written about the operation, the
// request is handed back (not counted) and the next run asks again.
func TestDrainDuringAReconcilingRead(t *testing.T) {
	e := newDrainEnv(t)
	id := e.changeOf("gatetest.observe")
	ctx := context.Background()
	// As a crash left it: the first operation started, no result.
	err := e.k.DB.WithTx(ctx, func(tx app.Tx) error {
		cur, err := tx.ChangeRequestByID(ctx, id)
		if err != nil {
			return err
		}
		o := &cur.Operations[0]
		o.Status, o.StartedAt = app.OpRunning, time.Now()
		return tx.UpdateOperation(ctx, o)
	})
	if err != nil {
		t.Fatal(err)
	}
	stopA := e.start(10 * time.Millisecond)
	e.waitStarted(-1) // reading the target
	stopA()
	c := e.get(id)
	if c.State != app.StateExecuting || c.LeaseOwner != "" || c.Requeues != 0 || !strings.Contains(c.InterruptCause, "checking the target") {
		t.Fatalf("after the drain: %s, lease %q, requeues %d, cause %q", c.State, c.LeaseOwner, c.Requeues, c.InterruptCause)
	}
	if o := c.Operations[0]; !o.OutcomeUnknown() || o.Unsettled() {
		t.Errorf("first operation %s %q: want still unknown, not given up on", o.Status, o.Error)
	}
	e.start(time.Minute)
	e.waitStarted(-1) // asked again
	e.d.gate <- struct{}{}
	e.waitStarted(2) // applied: the first is not run again
	e.d.gate <- struct{}{}
	waitFor(t, func() bool { return e.get(id).State == app.StateSucceeded })
	if n := len(e.audit(id, "change.operation_reconciled")); n != 1 {
		t.Errorf("%d change.operation_reconciled, want 1", n)
	}
	verifyAudit(t, e.k.Service)
}

// TestRequeueLimit: a request whose worker keeps dying is handed back
// MaxRequeues-1 times, then waits for a person with the cause spelled out
// instead of killing server after server.
func TestRequeueLimit(t *testing.T) {
	e := newDrainEnv(t)
	id := e.change()
	ctx := context.Background()
	// As a server that died holding it, with earlier deaths counted.
	err := e.k.DB.WithTx(ctx, func(tx app.Tx) error {
		cur, err := tx.ChangeRequestByID(ctx, id)
		if err != nil {
			return err
		}
		cur.LeaseOwner, cur.LeaseExpiresAt = "dead-server", time.Now().Add(-time.Second)
		cur.Requeues = engine.MaxRequeues - 1
		return tx.UpdateChangeRequest(ctx, cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	e.start(time.Minute)
	waitFor(t, func() bool { return e.get(id).State == app.StateInterrupted })
	c := e.get(id)
	if !strings.Contains(c.InterruptCause, "lost its lease") || !strings.Contains(c.InterruptCause, fmt.Sprintf("stopped %d times", engine.MaxRequeues)) {
		t.Errorf("cause %q", c.InterruptCause)
	}
	if !e.k.Service.ChangeActions(e.op, c).Allowed(app.ActionResume) {
		t.Error("resume not offered on the interrupted request")
	}
	if _, err := e.k.Service.ResumeChange(ctx, e.op, id); err != nil {
		t.Fatal(err)
	}
	if c := e.get(id); c.Requeues != 0 || c.InterruptCause != "" {
		t.Errorf("after a person resumed: requeues %d, cause %q; want a fresh start", c.Requeues, c.InterruptCause)
	}
	e.waitStarted(1)
	e.d.gate <- struct{}{}
	e.waitStarted(2)
	e.d.gate <- struct{}{}
	waitFor(t, func() bool { return e.get(id).State == app.StateSucceeded })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30 s")
		}
	}
}

func verifyAudit(t *testing.T, svc *app.Service) {
	t.Helper()
	ctx := context.Background()
	signer, _, err := svc.LoadOrCreateAuditSigner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.WriteCheckpoint(ctx, signer); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyAudit(ctx, app.VerifyOptions{}); err != nil {
		t.Fatalf("audit verify: %v", err)
	}
}
