package hosts

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
)

// HostOperation is one agent/ops operation plus the host it runs on. Its
// parameters are the operation's own plus "host" (a hostname or an agent
// id): {"host":"web-1","name":"alice"}. Everything but "host" is decoded and
// validated by ops.Decode, exactly as the agent will decode it again.
type HostOperation struct {
	typ  string
	Host string
	// rest is the operation's own parameters as given; op is rest decoded
	// and validated (set by Validate).
	rest json.RawMessage
	op   ops.Op
	dup  string // a parameter given twice; refused by Validate
}

var (
	_ app.Operation     = (*HostOperation)(nil)
	_ app.AffectsAssets = (*HostOperation)(nil)
)

// newHostOperation is the registry's New for one type.
func newHostOperation(typ string) func() app.Operation {
	return func() app.Operation { return &HostOperation{typ: typ} }
}

// Type is the operation type, e.g. "host.user.lock".
func (o *HostOperation) Type() string { return o.typ }

// Op is the decoded host operation (nil before Validate succeeds).
func (o *HostOperation) Op() ops.Op { return o.op }

// UnmarshalJSON splits "host" from the rest. It only checks the shape; the
// values are checked by Validate, so its messages reach the user.
func (o *HostOperation) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("parameters must be a JSON object")
	}
	rest := map[string]json.RawMessage{}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if seen[key] && o.dup == "" {
			// Two values for one key: which one a reader sees depends on
			// the reader; Validate refuses rather than guess.
			o.dup = key
		}
		seen[key] = true
		if key == "host" {
			if err := json.Unmarshal(v, &o.Host); err != nil {
				return &json.UnmarshalTypeError{Value: "non-string", Type: reflect.TypeFor[string](), Field: "host"}
			}
			continue
		}
		rest[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	r, err := json.Marshal(rest)
	if err != nil {
		return err
	}
	o.rest, o.op = r, nil
	return nil
}

// MarshalJSON writes the normal form: "host" and the operation's parameters
// as ops encodes them.
func (o *HostOperation) MarshalJSON() ([]byte, error) {
	params := o.rest
	if o.op != nil {
		var err error
		if params, err = json.Marshal(o.op); err != nil {
			return nil, err
		}
	}
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(params)) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &m); err != nil {
			return nil, err
		}
	}
	h, err := json.Marshal(o.Host)
	if err != nil {
		return nil, err
	}
	m["host"] = h
	return json.Marshal(m)
}

// Validate checks the host's form and decodes the rest with ops.Decode:
// strict (unknown fields refused) and validated as the agent will.
func (o *HostOperation) Validate() error {
	if o.dup != "" {
		return app.Errorf(app.EINVALID, "parameter %q is given twice", o.dup)
	}
	if err := validateHost(o.Host); err != nil {
		return err
	}
	op, err := ops.Decode(o.typ, o.rest)
	if err != nil {
		return app.Errorf(app.EINVALID, "%s", strings.TrimPrefix(err.Error(), o.typ+": "))
	}
	o.op = op
	return nil
}

// Affects names the assets the operation may change, with the host as
// given: an agent id matches the assets' external ids and a hostname their
// names. Execute's result names them by agent id.
func (o *HostOperation) Affects() []app.AssetRef {
	if o.op == nil {
		return nil
	}
	return refsFor(o.op, o.Host, nil)
}

// refsFor lists the assets op changes on the host whose assets are keyed by
// prefix (an agent id, or a hostname), including the SSH keys of a deleted
// user when the inventory u is known.
func refsFor(op ops.Op, prefix string, u *ops.HostUser) []app.AssetRef {
	userRef := func(name string) app.AssetRef { return app.AssetRef{Kind: KindUser, ExternalID: prefix + "/" + name} }
	keyRef := func(user, fp string) app.AssetRef {
		return app.AssetRef{Kind: KindSSHKey, ExternalID: prefix + "/" + user + "/" + fp}
	}
	switch o := op.(type) {
	case ops.UserCreate:
		return []app.AssetRef{userRef(o.Name)}
	case ops.UserLock:
		return []app.AssetRef{userRef(o.Name)}
	case ops.UserUnlock:
		return []app.AssetRef{userRef(o.Name)}
	case ops.UserDelete:
		refs := []app.AssetRef{userRef(o.Name)}
		if u != nil {
			for _, k := range u.SSHKeys {
				refs = append(refs, keyRef(o.Name, k.Fingerprint))
			}
		}
		return refs
	case ops.SSHKeyAdd:
		refs := []app.AssetRef{userRef(o.User)}
		if k, err := ops.ParsePublicKey(o.PublicKey); err == nil {
			refs = append(refs, keyRef(o.User, k.Fingerprint))
		}
		return refs
	case ops.SSHKeyRemove:
		return []app.AssetRef{userRef(o.User), keyRef(o.User, o.Fingerprint)}
	case ops.FactsRefresh:
		return []app.AssetRef{{Kind: KindHost, ExternalID: prefix}}
	}
	return nil
}

// Plan reads the agent's last heartbeat and says what will change. It
// fails when the host is not an agent of this connector, is revoked, or
// when the inventory shows the agent would refuse; an offline agent still
// gets a plan, with a warning.
func (o *HostOperation) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	if o.op == nil {
		if err := o.Validate(); err != nil {
			return "", err
		}
	}
	h, err := c.resolve(ctx, o.Host)
	if err != nil {
		return "", err
	}
	text, err := planText(o.op, h, c.now())
	if err != nil {
		return "", err
	}
	now := c.now()
	switch h.agent.Status(now) {
	case app.AgentOnline:
		text += fmt.Sprintf(" (Inventory as of the %s.)", h.seen(now))
	default:
		text += fmt.Sprintf(" Warning: the agent is offline (%s); the change will fail unless it reconnects within %s of execution.",
			h.seen(now), formatDuration(c.cfg.timeout))
	}
	return text, nil
}

// Execute hands the operation to the host's agent and waits up to the
// connector's timeout for its result. On timeout the work is withdrawn, so
// nothing stays queued for the agent.
func (o *HostOperation) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	if o.op == nil {
		if err := o.Validate(); err != nil {
			return nil, err
		}
	}
	h, err := c.resolve(ctx, o.Host)
	if err != nil {
		return nil, err
	}
	if c.dispatch == nil {
		return nil, app.Errorf(app.EUNAVAILABLE, "this server process does not serve agents, so it cannot reach %s", h.name())
	}
	// The operation's key makes a resumed operation the same work item, which
	// the agent answers from its memory if it ran it already.
	id := app.OperationKeyFrom(ctx)
	if id == "" {
		if id, err = newWorkID(); err != nil {
			return nil, err
		}
	}
	w, err := ops.NewWork(id, o.op)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "%s", err)
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.timeout)
	defer cancel()
	res, err := c.dispatch.Dispatch(wctx, h.agent.ID, w)
	if err != nil {
		return nil, dispatchErr(ctx, wctx, c.cfg.timeout, h, id, err)
	}
	if res.ID != "" && res.ID != id {
		return nil, fmt.Errorf("agent %s answered work %s with the result of %s", h.agent.ID, id, res.ID)
	}
	if !res.OK {
		msg := res.Error
		if msg == "" {
			msg = "the agent reported a failure without a reason"
		}
		return nil, app.Errorf(app.EUNAVAILABLE, "agent %s refused or failed %s: %s", h.agent.Hostname, o.typ, msg)
	}
	details := map[string]any{}
	for k, v := range res.Details {
		details[k] = v
	}
	details["agent_id"], details["hostname"], details["work_id"] = h.agent.ID, h.agent.Hostname, id
	if res.Duplicate {
		details["duplicate"] = true
	}
	summary := res.Summary
	if summary == "" {
		summary = o.op.Summary()
	}
	return &app.OpResult{
		Summary: h.agent.Hostname + ": " + summary,
		Details: details,
		Affects: refsFor(o.op, h.agent.ID, h.user(opUser(o.op))),
		// The agent had finished this work id before (a resumed run): its
		// remembered result is the reconciliation.
		Reconciled: res.Duplicate,
	}, nil
}

// dispatchErr says why no result came. Our own timeout means the agent is
// offline (or too slow); the caller's context ending is passed on.
func dispatchErr(ctx, wctx context.Context, timeout time.Duration, h *host, workID string, err error) error {
	var d interface{ WasDelivered() bool }
	delivered := errors.As(err, &d) && d.WasDelivered()
	note := "; the work was withdrawn and will not run"
	if delivered {
		note = "; the agent had received the work, so check the host before retrying"
	}
	if ctx.Err() != nil {
		return fmt.Errorf("agent %s: no result before the operation was stopped%s: %w", h.agent.Hostname, note, err)
	}
	if errors.Is(wctx.Err(), context.DeadlineExceeded) {
		return app.Errorf(app.EUNAVAILABLE, "agent %s offline: no result within %s%s (work %s)",
			h.agent.Hostname, formatDuration(timeout), note, workID)
	}
	return app.Errorf(app.EUNAVAILABLE, "agent %s: %s", h.agent.Hostname, err)
}

// opUser is the local user an operation is about ("" for facts.refresh).
func opUser(op ops.Op) string {
	switch o := op.(type) {
	case ops.UserCreate:
		return o.Name
	case ops.UserLock:
		return o.Name
	case ops.UserUnlock:
		return o.Name
	case ops.UserDelete:
		return o.Name
	case ops.SSHKeyAdd:
		return o.User
	case ops.SSHKeyRemove:
		return o.User
	}
	return ""
}

// newWorkID is 128 random bits, for an Execute outside a change request's
// run; within one the operation key is the id. Either way an id is reused
// only for the same operation, so the agent's memory of finished ids never
// mistakes one operation for another.
func newWorkID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("work id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
