package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Operation is one typed change to a target system. Implementations are
// plain structs whose exported, JSON-tagged fields are the parameters.
type Operation interface {
	// Validate checks the parameters without touching the target.
	Validate() error
	// Plan reads the target (no writes) and says in words what will change.
	Plan(ctx context.Context, conn Conn) (string, error)
	// Execute makes the change. It must honour ctx cancellation.
	Execute(ctx context.Context, conn Conn) (*OpResult, error)
}

// Outcome is what an Observer found on the target.
type Outcome int

const (
	// OutcomeUnknown: the target cannot say (a generated secret whose value
	// was never recorded, or the target could not be read). A person decides.
	OutcomeUnknown Outcome = iota
	// OutcomeApplied: the effect is already present; running it again would
	// fail or do it twice.
	OutcomeApplied
	// OutcomeNotApplied: the effect is absent; running it is safe.
	OutcomeNotApplied
)

// Reconciliation is an Observer's verdict, with the reason in words for the
// record (and, when unknown, for the person who must decide).
type Reconciliation struct {
	Outcome Outcome
	Reason  string
	// Affects names the assets an applied operation changed, as its own
	// result would have (OpResult.Affects), so the next sync does not take
	// a reconciled change for drift.
	Affects []AssetRef
}

// Observer is implemented by operations that can tell whether their effect
// is already present on the target. After a crash the engine asks it
// before running again an operation that started and has no recorded
// result; an operation that is not an Observer simply runs again.
type Observer interface {
	Observe(ctx context.Context, conn Conn) (Reconciliation, error)
}

// unsettledPrefix marks the error of an operation whose outcome
// reconciliation could not settle; the request waits for a person.
const unsettledPrefix = "outcome unknown: "

// UnsettledError is the recorded error of an operation whose outcome
// reconciliation could not tell, with the reason spelled out.
func UnsettledError(reason string) string {
	return unsettledPrefix + reason + "; resume to check again, or run it again explicitly"
}

// OutcomeUnknown reports whether the operation started and no result was
// recorded: the target may or may not have applied it.
func (o *ChangeOperation) OutcomeUnknown() bool {
	return !o.StartedAt.IsZero() && (o.Status == OpPending || o.Status == OpRunning)
}

// Unsettled reports whether reconciliation could not tell the outcome, so
// only a person's explicit "run it again" runs the operation once more.
func (o *ChangeOperation) Unsettled() bool {
	return o.OutcomeUnknown() && strings.HasPrefix(o.Error, unsettledPrefix)
}

// OpResult is what an executed operation reports.
type OpResult struct {
	Summary string         // one line for reviewers, e.g. "disabled uid=alice"
	Details map[string]any // non-secret facts; recorded and audited
	// Reveal is a secret to show once to the requester (a generated
	// password). It is sealed at rest and erased when shown or after 24 h.
	Reveal []byte
	// NewCredentials replaces the connector's own credentials (rotation);
	// the engine seals and stores them with the operation's result.
	NewCredentials []byte
	// Affects names the assets the operation changed, so the next sync
	// does not report them as drift. A ref matches an asset of its kind by
	// external id or by name.
	Affects []AssetRef
	// Reconciled says the target reported the effect as applied by an
	// earlier run of this same operation (an agent answering a resumed
	// work id from memory): it is recorded and audited as reconciled.
	Reconciled bool
}

// FieldKind tells the console how to render a parameter.
type FieldKind string

const (
	FieldString FieldKind = "string"
	FieldList   FieldKind = "list" // a JSON array of strings; one per line in forms
	FieldBool   FieldKind = "bool"
)

// FieldSpec describes one parameter for forms and documentation.
type FieldSpec struct {
	Name     string // JSON name
	Label    string
	Kind     FieldKind
	Required bool
	Help     string
}

// OperationSpec registers an operation type.
type OperationSpec struct {
	Type          string // dotted, e.g. "ldap.user.disable"
	ConnectorType string // the driver it runs against
	Description   string
	Fields        []FieldSpec
	// New returns a pointer to a zero value that parameters decode into.
	New func() Operation
}

// Registry holds the connector drivers and operation types compiled into
// this binary. An unknown type is an error, never a fallback.
type Registry struct {
	mu      sync.RWMutex
	drivers map[string]ConnectorDriver
	ops     map[string]OperationSpec // key: connector type + " " + op type
	idps    map[string]IdentityProviderType
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{drivers: map[string]ConnectorDriver{}, ops: map[string]OperationSpec{}}
}

// RegisterDriver adds a connector type; registering one twice is a bug.
func (r *Registry) RegisterDriver(d ConnectorDriver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.drivers[d.Type()]; dup {
		panic("app: connector type registered twice: " + d.Type())
	}
	r.drivers[d.Type()] = d
}

// RegisterOperation adds an operation type; registering one twice is a bug.
func (r *Registry) RegisterOperation(s OperationSpec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := s.ConnectorType + " " + s.Type
	if _, dup := r.ops[k]; dup {
		panic("app: operation registered twice: " + k)
	}
	r.ops[k] = s
}

// Driver returns the driver of a connector type.
func (r *Registry) Driver(typ string) (ConnectorDriver, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	d, ok := r.drivers[typ]
	if !ok {
		return nil, Errorf(EINVALID, "unknown connector type %q (known: %s)", typ, strings.Join(r.driverTypes(), ", "))
	}
	return d, nil
}

// ConfigSpec returns the config description of a connector type.
func (r *Registry) ConfigSpec(typ string) (ConfigSpec, error) {
	d, err := r.Driver(typ)
	if err != nil {
		return ConfigSpec{}, err
	}
	return d.ConfigSpec(), nil
}

// DriverTypes lists the registered connector types, sorted.
func (r *Registry) DriverTypes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.driverTypes()
}

func (r *Registry) driverTypes() []string {
	out := make([]string, 0, len(r.drivers))
	for t := range r.drivers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Operations lists the operation types of a connector type, sorted.
func (r *Registry) Operations(connectorType string) []OperationSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []OperationSpec
	for _, s := range r.ops {
		if s.ConnectorType == connectorType {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// DecodeOperation turns a stored or submitted (type, params) into a
// validated Operation: strict JSON (unknown fields refused), then Validate.
func (r *Registry) DecodeOperation(connectorType, typ string, params json.RawMessage) (Operation, error) {
	r.mu.RLock()
	spec, ok := r.ops[connectorType+" "+typ]
	r.mu.RUnlock()
	if !ok {
		var known []string
		for _, s := range r.Operations(connectorType) {
			known = append(known, s.Type)
		}
		return nil, Errorf(EINVALID, "unknown operation type %q for a %s connector (known: %s)", typ, connectorType, strings.Join(known, ", "))
	}
	op := spec.New()
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage(`{}`)
	}
	if err := DecodeStrictJSON(params, op); err != nil {
		return nil, Errorf(EINVALID, "%s: parameters: %s", typ, err)
	}
	if err := op.Validate(); err != nil {
		if ErrCode(err) == EINVALID {
			return nil, Errorf(EINVALID, "%s: %s", typ, ErrMessage(err))
		}
		return nil, fmt.Errorf("%s: validate: %w", typ, err)
	}
	return op, nil
}
