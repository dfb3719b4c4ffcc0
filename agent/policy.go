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
// "this database server only ever locks users", and decide which
// root-equivalent groups operations may grant here (none by default).
type Policy struct {
	allow  map[string]bool // nil: every compiled-in type
	deny   map[string]bool
	Source string // file the policy came from, for error messages
	// privileged adds host-specific root-equivalent groups to
	// ops.RootEquivalentGroups; allowPrivileged lists those this host lets
	// operations grant anyway.
	privileged      map[string]bool
	allowPrivileged map[string]bool
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

// IsPrivilegedGroup reports whether name is root-equivalent on this host:
// in ops.RootEquivalentGroups or in the policy's privileged_groups.
func (p *Policy) IsPrivilegedGroup(name string) bool {
	return ops.IsRootEquivalentGroup(name) || p != nil && p.privileged[name]
}

// AllowsGroup reports whether operations may grant the root-equivalent
// group name on this host. root and shadow are never allowed.
func (p *Policy) AllowsGroup(name string) bool {
	return p != nil && p.allowPrivileged[name] && !ops.NeverGrantedGroup(name)
}

// PrivilegedGroups lists the root-equivalent group names on this host,
// sorted.
func (p *Policy) PrivilegedGroups() []string {
	out := ops.RootEquivalentGroups()
	if p != nil {
		for g := range p.privileged {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.Sort(out)
	return out
}

// AllowedPrivilegedGroups lists the root-equivalent groups this host lets
// operations grant, sorted.
func (p *Policy) AllowedPrivilegedGroups() []string {
	var out []string
	for _, g := range p.PrivilegedGroups() {
		if p.AllowsGroup(g) {
			out = append(out, g)
		}
	}
	return out
}

// report adds the policy on root-equivalent groups to f.
func (p *Policy) report(f *ops.Facts) {
	f.PrivilegedGroups = p.PrivilegedGroups()
	f.AllowedPrivilegedGroups = p.AllowedPrivilegedGroups()
}

// source names where the policy came from, for refusals.
func (p *Policy) source() string {
	if p == nil || p.Source == "" {
		return "built-in defaults"
	}
	return p.Source
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
//	privileged_groups       = wheel-ops, backup-admins
//	allow_privileged_groups = docker
//
// An unknown key or operation type is an error rather than ignored: a
// misspelt "alow" must not silently allow everything. Allowing a group
// that is neither in ops.RootEquivalentGroups nor in privileged_groups is
// an error too: it would mean nothing, so it is most likely a typo.
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
		case "privileged_groups", "allow_privileged_groups":
			if err := p.parseGroups(key, value); err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			continue
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
			return nil, fmt.Errorf("line %d: unknown key %q (known: allow, deny, privileged_groups, allow_privileged_groups)", n, key)
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
	for g := range p.allowPrivileged {
		if !p.IsPrivilegedGroup(g) {
			return nil, fmt.Errorf("allow_privileged_groups: %q is not a root-equivalent group (those are %s and any listed in privileged_groups); ordinary groups need no allowing",
				g, strings.Join(ops.RootEquivalentGroups(), ", "))
		}
	}
	return p, nil
}

// parseGroups adds a comma-separated list of group names to
// privileged_groups or allow_privileged_groups.
func (p *Policy) parseGroups(key, value string) error {
	set := &p.privileged
	if key == "allow_privileged_groups" {
		set = &p.allowPrivileged
	}
	if *set == nil {
		*set = map[string]bool{}
	}
	for _, g := range strings.Split(value, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if ops.NeverGrantedGroup(g) {
			if set == &p.allowPrivileged {
				return fmt.Errorf("%s: %q can never be granted by Nexplane (root is gid 0, shadow reads every password hash)", key, g)
			}
			continue // already privileged everywhere
		}
		if err := ops.ValidateGroupName(g); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		(*set)[g] = true
	}
	return nil
}
