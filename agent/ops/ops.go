package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Op is one typed host operation. The same struct is validated by the
// control plane when a change request is drafted and again by the agent
// before anything runs, so a compromised or buggy server cannot push a value
// the agent would not accept from a reviewer.
type Op interface {
	// Type is the dotted operation name, e.g. "host.user.lock".
	Type() string
	// Validate reports the first problem with the parameters, or nil.
	Validate() error
	// Summary is one line in words for reviewers and logs.
	Summary() string
}

// MaxParamsBytes caps one work item's parameters; the largest legitimate
// value is an RSA-16384 public key line, well under this.
const MaxParamsBytes = 64 << 10

// ErrUnknownType is wrapped by Decode when the type is not compiled in.
var ErrUnknownType = errors.New("unknown operation type")

// Field describes one parameter so the server can render a form without
// duplicating the operation list.
type Field struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Kind     string `json:"kind"` // "string" | "list" | "bool"
	Required bool   `json:"required"`
	Help     string `json:"help,omitempty"`
}

// Field kinds.
const (
	KindString = "string"
	KindList   = "list"
	KindBool   = "bool"
)

// Spec is the metadata of one operation type.
type Spec struct {
	Type        string  `json:"type"`
	Description string  `json:"description"`
	Fields      []Field `json:"fields"`
	decode      func(*json.Decoder) (Op, error)
}

// Specs lists every operation type in a stable order. The slice is a copy.
func Specs() []Spec {
	out := make([]Spec, len(specs))
	for i, s := range specs {
		s.Fields = slices.Clone(s.Fields)
		out[i] = s
	}
	return out
}

// Types lists the operation type names in the order of Specs.
func Types() []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Type
	}
	return out
}

// Known reports whether typ is a compiled-in operation type.
func Known(typ string) bool {
	_, ok := lookup(typ)
	return ok
}

func lookup(typ string) (Spec, bool) {
	for _, s := range specs {
		if s.Type == typ {
			return s, true
		}
	}
	return Spec{}, false
}

// Decode turns a work item's type and parameters into a validated Op.
// Decoding is strict: an unknown type, an unknown field, trailing data or a
// value that fails Validate is an error, never a fallback.
func Decode(typ string, params json.RawMessage) (Op, error) {
	s, ok := lookup(typ)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
	}
	if len(params) > MaxParamsBytes {
		return nil, fmt.Errorf("%s: parameters larger than %d bytes", typ, MaxParamsBytes)
	}
	// An operation without parameters may arrive with none at all.
	if t := bytes.TrimSpace(params); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		params = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	op, err := s.decode(dec)
	if err != nil {
		return nil, fmt.Errorf("%s: parameters: %w", typ, err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: parameters: trailing data after the JSON object", typ)
	}
	if err := op.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", typ, err)
	}
	return op, nil
}

// NewWork validates op and wraps it as a work item with the given id.
func NewWork(id string, op Op) (Work, error) {
	if id == "" {
		return Work{}, errors.New("work id is empty")
	}
	if err := op.Validate(); err != nil {
		return Work{}, fmt.Errorf("%s: %w", op.Type(), err)
	}
	p, err := json.Marshal(op)
	if err != nil {
		return Work{}, fmt.Errorf("%s: encode parameters: %w", op.Type(), err)
	}
	return Work{ID: id, Type: op.Type(), Params: p}, nil
}

// FieldError names the parameter that failed validation.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}
