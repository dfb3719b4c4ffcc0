// Package optest runs a connector's operation types as the engine does:
// decoded through the registry, then planned or executed on an open
// session. For the connectors' tests.
package optest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Runner decodes operations of one connector type and runs them on Conn.
type Runner struct {
	Reg      *app.Registry
	ConnType string
	Conn     app.Conn
	// Timeout bounds each call (default 30 s).
	Timeout time.Duration
}

func (r Runner) ctx(t *testing.T) context.Context {
	d := r.Timeout
	if d <= 0 {
		d = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Op decodes an operation through the registry, as the application does.
func (r Runner) Op(t *testing.T, typ, params string) app.Operation {
	t.Helper()
	op, err := r.Reg.DecodeOperation(r.ConnType, typ, json.RawMessage(params))
	if err != nil {
		t.Fatalf("decode %s %s: %v", typ, params, err)
	}
	return op
}

// Plan returns the operation's plan, failing the test on an error.
func (r Runner) Plan(t *testing.T, typ, params string) string {
	t.Helper()
	s, err := r.Op(t, typ, params).Plan(r.ctx(t), r.Conn)
	if err != nil {
		t.Fatalf("plan %s %s: %v", typ, params, err)
	}
	return s
}

// PlanErr returns the error planning must give.
func (r Runner) PlanErr(t *testing.T, typ, params string) error {
	t.Helper()
	_, err := r.Op(t, typ, params).Plan(r.ctx(t), r.Conn)
	if err == nil {
		t.Fatalf("plan %s %s: want an error", typ, params)
	}
	return err
}

// Exec executes the operation, failing the test on an error or an empty
// result.
func (r Runner) Exec(t *testing.T, typ, params string) *app.OpResult {
	t.Helper()
	res, err := r.Op(t, typ, params).Execute(r.ctx(t), r.Conn)
	if err != nil {
		t.Fatalf("execute %s %s: %v", typ, params, err)
	}
	if res == nil || res.Summary == "" {
		t.Fatalf("execute %s: empty result %+v", typ, res)
	}
	return res
}

// ExecErr returns the error execution must give.
func (r Runner) ExecErr(t *testing.T, typ, params string) error {
	t.Helper()
	res, err := r.Op(t, typ, params).Execute(r.ctx(t), r.Conn)
	if err == nil {
		t.Fatalf("execute %s %s: want an error, got %+v", typ, params, res)
	}
	return err
}
