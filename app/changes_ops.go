package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// decodeOps validates operations against the connector's type and returns
// them ready to store (params in normal form, status pending).
func (s *Service) decodeOps(conn *Connector, in []OpInput) ([]ChangeOperation, []Operation, error) {
	if len(in) == 0 {
		return nil, nil, Errorf(EINVALID, "a change request needs at least one operation")
	}
	if len(in) > maxOperations {
		return nil, nil, Errorf(EINVALID, "a change request holds at most %d operations", maxOperations)
	}
	ops := make([]ChangeOperation, 0, len(in))
	typed := make([]Operation, 0, len(in))
	for i, o := range in {
		op, err := s.registry.DecodeOperation(conn.Type, o.Type, o.Params)
		if err != nil {
			return nil, nil, Errorf(EINVALID, "operation %d: %s", i+1, ErrMessage(err))
		}
		params, err := json.Marshal(op)
		if err != nil {
			return nil, nil, fmt.Errorf("operation %d: encode params: %w", i+1, err)
		}
		ops = append(ops, ChangeOperation{Seq: i, Type: o.Type, Params: params, Status: OpPending})
		typed = append(typed, op)
	}
	return ops, typed, nil
}

// plan asks each operation what it would change. strict makes any failure an
// error (submission); otherwise a failure becomes the plan text (drafts).
func (s *Service) plan(ctx context.Context, c *Connector, ops []ChangeOperation, typed []Operation, strict bool) error {
	conn, err := s.openConnector(ctx, c)
	if err != nil {
		if strict {
			return Errorf(EUNAVAILABLE, "cannot plan against %q: %s", c.Name, ErrMessage(err))
		}
		for i := range ops {
			ops[i].Plan = "Plan unavailable: " + ErrMessage(err)
		}
		return nil
	}
	defer conn.Close()
	for i, op := range typed {
		text, err := op.Plan(ctx, conn)
		if err != nil {
			msg := err.Error()
			if ErrCode(err) != EINTERNAL {
				msg = ErrMessage(err)
			}
			if strict {
				return Errorf(EINVALID, "operation %d (%s) cannot be planned: %s", i+1, ops[i].Type, msg)
			}
			text = "Plan unavailable: " + msg
		}
		ops[i].Plan = text
	}
	return nil
}

// typedOps decodes stored operations again (they were valid when stored).
func (s *Service) typedOps(c *Connector, ops []ChangeOperation) ([]Operation, error) {
	out := make([]Operation, 0, len(ops))
	for _, o := range ops {
		op, err := s.registry.DecodeOperation(c.Type, o.Type, o.Params)
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, nil
}

func opsAudit(ops []ChangeOperation) []map[string]any {
	out := make([]map[string]any, 0, len(ops))
	for _, o := range ops {
		out = append(out, map[string]any{"type": o.Type, "params": o.Params})
	}
	return out
}

// errUnchanged ends an update that would change nothing: the use case
// writes nothing and records nothing.
var errUnchanged = errors.New("nothing changed")

// sameOperations says whether two operation lists hold the same types and
// parameters in the same order (the parameters compared as JSON values).
func sameOperations(a, b []ChangeOperation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || !sameJSONValue(a[i].Params, b[i].Params) {
			return false
		}
	}
	return true
}

// sameJSONValue says whether two JSON documents hold the same value, whatever
// their spacing and key order.
func sameJSONValue(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}
