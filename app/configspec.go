package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// ConfigType says what a connector setting holds, so app can check it and
// the console can render an input for it.
type ConfigType string

const (
	ConfigText      ConfigType = "text"      // a string on one line
	ConfigMultiline ConfigType = "multiline" // a string of several lines (PEM bundles)
	ConfigNumber    ConfigType = "number"    // a whole number
	ConfigBool      ConfigType = "bool"
	ConfigList      ConfigType = "list" // strings; one per line in forms
	ConfigMap       ConfigType = "map"  // string to string; key=value lines in forms
)

// ConfigField is one setting of a connector type: a key of its config
// object or, when Secret, of its credentials object.
type ConfigField struct {
	Name     string // JSON name
	Label    string
	Type     ConfigType
	Help     string
	Required bool
	// Default is what the driver fills in when the setting is left out, in
	// the setting's JSON shape; nil when leaving it out means "none".
	Default any
	// Secret settings are credentials: sealed at rest, never returned or
	// shown, write-only in forms. Their type is always text.
	Secret bool
	// Locates marks a setting that decides where (or to whom) the
	// credentials are sent. Changing it while keeping the stored credentials
	// is refused, so nobody can redirect a secret they may not read.
	Locates bool
}

// LocatesHelp is what a form says next to a Locates setting.
const LocatesHelp = "Changing this requires entering the credentials again."

// HelpText is the help a form shows next to the setting: its own help and,
// for a setting that decides where the credentials go, that changing it
// needs them again (the rule UpdateConnector enforces).
func (f ConfigField) HelpText() string {
	if !f.Locates {
		return f.Help
	}
	if f.Help == "" {
		return LocatesHelp
	}
	return strings.TrimRight(f.Help, ".") + ". " + LocatesHelp
}

// ConfigSpec describes a connector type's config and credentials. The
// console builds its form from it and app checks submitted values against
// it, so a new connector type needs no code outside its own package.
type ConfigSpec struct {
	Label string // what the type is called in the console, e.g. "LDAP directory"
	// Description is one sentence for the console's type choice: what the
	// type connects and what it needs.
	Description string
	Fields      []ConfigField
}

// Config returns the non-secret fields, in order.
func (s ConfigSpec) Config() []ConfigField { return s.filter(false) }

// Secrets returns the credential fields, in order.
func (s ConfigSpec) Secrets() []ConfigField { return s.filter(true) }

func (s ConfigSpec) filter(secret bool) []ConfigField {
	var out []ConfigField
	for _, f := range s.Fields {
		if f.Secret == secret {
			out = append(out, f)
		}
	}
	return out
}

// CheckConfig checks a submitted config object against the spec: only known
// fields, each of its type, required ones present. what prefixes messages
// ("ldap config"). The driver's ValidateConfig checks the values' meaning.
func (s ConfigSpec) CheckConfig(what string, raw json.RawMessage) error {
	return check(what, raw, s.Config())
}

// CheckCredentials is CheckConfig for the credentials object. Its messages
// name fields, never values.
func (s ConfigSpec) CheckCredentials(what string, raw json.RawMessage) error {
	secrets := s.Secrets()
	if err := check(what, raw, secrets); err != nil {
		if len(secrets) == 0 && ErrCode(err) == EINVALID {
			return Errorf(EINVALID, "%s: this connector type takes none; leave credentials empty or {}", what)
		}
		return err
	}
	return nil
}

func check(what string, raw json.RawMessage, fields []ConfigField) error {
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if err := DecodeStrictJSON(t, &obj); err != nil {
			return Errorf(EINVALID, "%s: %s", what, err)
		}
	}
	known := make(map[string]ConfigField, len(fields))
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		known[f.Name] = f
		names = append(names, f.Name)
	}
	list := strings.Join(names, ", ")
	if list == "" {
		list = "none"
	}
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		if _, ok := known[name]; !ok {
			return Errorf(EINVALID, "%s: unknown field %q (known: %s)", what, name, list)
		}
	}
	for _, f := range fields {
		v, ok := obj[f.Name]
		if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			if f.Required {
				return Errorf(EINVALID, "%s: %s is required", what, f.Name)
			}
			continue
		}
		if !hasType(f.Type, v) {
			return Errorf(EINVALID, "%s: field %q has the wrong type (want %s)", what, f.Name, typeWords(f.Type))
		}
		if f.Required && f.Type != ConfigBool && f.Type != ConfigNumber && isEmpty(v) {
			return Errorf(EINVALID, "%s: %s is required", what, f.Name)
		}
	}
	return nil
}

// hasType reports whether the JSON value v is of type t.
func hasType(t ConfigType, v json.RawMessage) bool {
	switch t {
	case ConfigBool:
		var b bool
		return json.Unmarshal(v, &b) == nil
	case ConfigNumber:
		var n float64
		return json.Unmarshal(v, &n) == nil && n == math.Trunc(n)
	case ConfigList:
		var l []string
		return json.Unmarshal(v, &l) == nil
	case ConfigMap:
		var m map[string]string
		return json.Unmarshal(v, &m) == nil
	default:
		var s string
		return json.Unmarshal(v, &s) == nil
	}
}

func isEmpty(v json.RawMessage) bool {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return false
	}
	switch x := x.(type) {
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func typeWords(t ConfigType) string {
	switch t {
	case ConfigBool:
		return "true or false"
	case ConfigNumber:
		return "a whole number"
	case ConfigList:
		return "a list of strings"
	case ConfigMap:
		return "an object of strings"
	}
	return "a string"
}

// movedLocators names the Locates fields whose values differ between two
// valid config objects.
func (s ConfigSpec) movedLocators(before, after json.RawMessage) ([]string, error) {
	var b, a map[string]json.RawMessage
	if err := json.Unmarshal(before, &b); err != nil {
		return nil, fmt.Errorf("decode stored config: %w", err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		return nil, fmt.Errorf("decode new config: %w", err)
	}
	var moved []string
	for _, f := range s.Config() {
		if f.Locates && !sameJSON(b[f.Name], a[f.Name]) {
			moved = append(moved, f.Name)
		}
	}
	return moved, nil
}

// sameJSON compares two JSON values; absent and null are the same.
func sameJSON(x, y json.RawMessage) bool {
	norm := func(v json.RawMessage) string {
		var buf bytes.Buffer
		if len(bytes.TrimSpace(v)) == 0 || json.Compact(&buf, v) != nil {
			return "null"
		}
		return buf.String()
	}
	return norm(x) == norm(y)
}
