package engine_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// keyDriver is a connector type for this test only: its one operation
// reports the operation key it was given and, while hang is set, then
// blocks until its context ends, as an operation does when the server dies
// under it.
type keyDriver struct {
	keys chan string
	hang atomic.Bool
}

type keyConn struct{}

func (keyConn) Test(context.Context) (string, error) { return "ok", nil }
func (keyConn) Close() error                         { return nil }

func (d *keyDriver) Type() string               { return "keytest" }
func (d *keyDriver) ConfigSpec() app.ConfigSpec { return app.ConfigSpec{Label: "key test"} }
func (d *keyDriver) ValidateConfig(c json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}
func (d *keyDriver) ValidateCredentials([]byte) error { return nil }
func (d *keyDriver) Connect(context.Context, json.RawMessage, []byte) (app.Conn, error) {
	return keyConn{}, nil
}

type keyOp struct {
	N int `json:"n"`
	d *keyDriver
}

func (o *keyOp) Validate() error                                { return nil }
func (o *keyOp) Plan(context.Context, app.Conn) (string, error) { return "reports its key", nil }
func (o *keyOp) Execute(ctx context.Context, _ app.Conn) (*app.OpResult, error) {
	o.d.keys <- app.OperationKeyFrom(ctx)
	if o.d.hang.CompareAndSwap(true, false) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &app.OpResult{Summary: "done"}, nil
}

// TestResumedOperationKeepsItsKey: an operation cut short by its server's
// shutdown is executed on resume with the key of the interrupted run, so a
// target that remembers keys (the agent) recognises it; every other
// operation has its own key.
func TestResumedOperationKeepsItsKey(t *testing.T) {
	d := &keyDriver{keys: make(chan string, 10)}
	k := testkit.NewService(t, testkit.Options{Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) {
		reg.RegisterDriver(d)
		reg.RegisterOperation(app.OperationSpec{Type: "keytest.report", ConnectorType: "keytest",
			New: func() app.Operation { return &keyOp{d: d} }})
	}})
	db, svc := k.DB, k.Service
	ctx := context.Background()
	op, appr := operatorAndApprover(t, svc)
	conn, err := svc.CreateConnector(ctx, app.SystemActor("test"), app.ConnectorInput{Name: "keys", Type: "keytest", Config: json.RawMessage(`{}`), Credentials: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	approved := func() int64 {
		return approvedChange(ctx, t, svc, op, appr, app.ChangeInput{Title: "keys", ConnectorID: conn.ID, Operations: []app.OpInput{
			{Type: "keytest.report", Params: []byte(`{"n":1}`)}, {Type: "keytest.report", Params: []byte(`{"n":2}`)}}})
	}
	startEngine := func() (stop func()) {
		e := engine.New(engine.Config{Store: db, Registry: k.Registry, Sealer: k.Vault, Poll: 20 * time.Millisecond, LeaseTTL: time.Second,
			DrainTimeout: time.Millisecond})
		ectx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { e.Run(ectx); close(done) }()
		return func() { cancel(); <-done }
	}
	nextKey := func() string {
		select {
		case k := <-d.keys:
			return k
		case <-time.After(20 * time.Second):
			t.Fatal("no operation ran")
			return ""
		}
	}
	waitState := func(id int64, want app.ChangeState) *app.ChangeRequest {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			c, err := svc.GetChange(ctx, op, id)
			if err != nil {
				t.Fatal(err)
			}
			if c.State == want {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("change %d is %s, want %s", id, c.State, want)
			}
		}
	}

	// The first worker dies inside the first operation.
	id := approved()
	d.hang.Store(true)
	stopA := startEngine()
	if _, err := svc.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
		t.Fatal(err)
	}
	first := nextKey()
	stopA()

	// The drain timeout cut the operation short and handed the request
	// back; another worker runs the first operation again (it cannot tell
	// whether it applied) under the same key.
	stopB := startEngine()
	defer stopB()
	if again := nextKey(); again != first {
		t.Errorf("resumed operation's key %s, want %s as before the interruption", again, first)
	}
	second := nextKey()
	c := waitState(id, app.StateSucceeded)
	if want := app.OperationKey(c, &c.Operations[0]); first != want {
		t.Errorf("first run's key %s, want the operation's key %s", first, want)
	}
	if second == first || second != app.OperationKey(c, &c.Operations[1]) {
		t.Errorf("second operation's key %s (first %s)", second, first)
	}

	// A request with the same operations has keys of its own.
	other := approved()
	if _, err := svc.ExecuteChange(ctx, op, other, app.ExecuteInput{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{nextKey(), nextKey()} {
		if k == first || k == second {
			t.Errorf("another request reused key %s", k)
		}
	}
	waitState(other, app.StateSucceeded)
}
