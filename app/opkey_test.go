package app

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

func TestOperationKey(t *testing.T) {
	created := time.Date(2026, 11, 29, 10, 0, 0, 123e6, time.UTC)
	base := func() (*ChangeRequest, *ChangeOperation) {
		return &ChangeRequest{ID: 7, CreatedAt: created},
			&ChangeOperation{ID: 21, ChangeRequestID: 7, Seq: 1, Type: "host.user.create", Params: json.RawMessage(`{"name":"bob"}`)}
	}
	c, op := base()
	want := OperationKey(c, op)
	if len(want) != 32 {
		t.Fatalf("key %q: want 32 hex characters", want)
	}

	// What a resumed run sees: the same request and operation read again,
	// with run-time fields changed.
	c2, op2 := base()
	c2.State, c2.LeaseOwner, c2.Revision = StateExecuting, "other-worker", 3
	op2.Status, op2.StartedAt, op2.Error = OpFailed, time.Now(), "interrupted"
	if got := OperationKey(c2, op2); got != want {
		t.Errorf("key of the same operation on another run = %s, want %s", got, want)
	}

	for name, change := range map[string]func(*ChangeRequest, *ChangeOperation){
		"another request":                    func(c *ChangeRequest, _ *ChangeOperation) { c.ID = 8 },
		"same id, created later (a restore)": func(c *ChangeRequest, _ *ChangeOperation) { c.CreatedAt = created.Add(time.Millisecond) },
		"another operation id":               func(_ *ChangeRequest, op *ChangeOperation) { op.ID = 22 },
		"another position":                   func(_ *ChangeRequest, op *ChangeOperation) { op.Seq = 2 },
		"another type":                       func(_ *ChangeRequest, op *ChangeOperation) { op.Type = "host.user.lock" },
		"other parameters":                   func(_ *ChangeRequest, op *ChangeOperation) { op.Params = json.RawMessage(`{"name":"bo"}`) },
	} {
		c, op := base()
		change(c, op)
		if got := OperationKey(c, op); got == want {
			t.Errorf("%s: same key %s", name, got)
		}
	}
}

func TestOperationKeyContext(t *testing.T) {
	if k := OperationKeyFrom(context.Background()); k != "" {
		t.Errorf("no key set: %q", k)
	}
	if k := OperationKeyFrom(WithOperationKey(context.Background(), "abc")); k != "abc" {
		t.Errorf("key = %q", k)
	}
}
