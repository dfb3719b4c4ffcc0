package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/nexplane/nexplane/agent/ops"
)

// DefaultConfigPath is the local policy file of a host.
const DefaultConfigPath = "/etc/nexplane-agent/agent.conf"

// Policy is the host's own narrowing of the compiled-in operation list. It
// lives on the host, out of the control plane's reach, so an owner can say
// "this database server only ever locks users".
type Policy struct {
	allow  map[string]bool // nil: every compiled-in type
	deny   map[string]bool
	Source string // file the policy came from, for error messages
}

// Allows reports whether typ may run on this host.
func (p *Policy) Allows(typ string) bool {
	if p == nil {
		return true
	}
	if p.deny[typ] {
		return false
	}
	return p.allow == nil || p.allow[typ]
}

// Allowed lists the types the policy accepts, in ops.Types order.
func (p *Policy) Allowed() []string {
	var out []string
	for _, t := range ops.Types() {
		if p.Allows(t) {
			out = append(out, t)
		}
	}
	return out
}

// LoadPolicy reads a policy file. A missing file is no narrowing when
// required is false (the default path on a host that never wrote one); an
// explicitly named file must exist, so a typo in --config fails loudly.
func LoadPolicy(path string, required bool) (*Policy, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return &Policy{Source: "no policy file at " + path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	p, err := ParsePolicy(string(b))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	p.Source = path
	return p, nil
}

// ParsePolicy parses "key = value" lines; '#' starts a comment.
//
//	allow = host.user.lock, host.user.unlock, host.facts.refresh
//	deny  = host.user.delete
//
// An unknown key or operation type is an error rather than ignored: a
// misspelt "alow" must not silently allow everything.
func ParsePolicy(text string) (*Policy, error) {
	p := &Policy{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want key = value", n)
		}
		key = strings.TrimSpace(key)
		var set map[string]bool
		switch key {
		case "allow":
			if p.allow != nil {
				return nil, fmt.Errorf("line %d: allow given twice", n)
			}
			p.allow = map[string]bool{} // "allow =" with nothing allows nothing
			set = p.allow
		case "deny":
			if p.deny == nil {
				p.deny = map[string]bool{}
			}
			set = p.deny
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (known: allow, deny)", n, key)
		}
		for _, t := range strings.Split(value, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			if !slices.Contains(ops.Types(), t) {
				return nil, fmt.Errorf("line %d: unknown operation type %q", n, t)
			}
			set[t] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return p, nil
}
