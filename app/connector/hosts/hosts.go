package hosts

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
)

// hostRE is what the "host" parameter may be: a hostname or an agent id.
// Hostnames that do not fit (agents report what the host says) are named by
// agent id instead.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

func validateHost(h string) error {
	if h == "" {
		return app.Errorf(app.EINVALID, "host is required: the host's name or its agent id")
	}
	if !hostRE.MatchString(h) {
		return app.Errorf(app.EINVALID, "host must be a hostname (letters, digits, '.', '_' or '-') or an agent id; name hosts with unusual names by agent id")
	}
	return nil
}

// host is an agent resolved from an operation's "host" with its last
// inventory.
type host struct {
	agent  *app.Agent
	users  []ops.HostUser
	hasInv bool // a heartbeat has reported users
	facts  ops.Facts
}

// name is how plans and errors name the host.
func (h *host) name() string { return h.agent.Hostname + " (agent " + h.agent.ID + ")" }

func (h *host) user(name string) *ops.HostUser {
	for i := range h.users {
		if h.users[i].Name == name {
			return &h.users[i]
		}
	}
	return nil
}

// resolve finds the agent an operation names, by agent id or hostname
// (case-insensitive). It must be selected by the connector's labels and not
// revoked; a hostname that names several live agents must be given as an
// agent id.
func (c *conn) resolve(ctx context.Context, name string) (*host, error) {
	if err := validateHost(name); err != nil {
		return nil, err
	}
	var a *app.Agent
	if app.ValidAgentID(name) {
		got, err := c.agents.AgentByID(ctx, name)
		switch {
		case err == nil:
			a = got
		case app.ErrCode(err) != app.ENOTFOUND:
			return nil, fmt.Errorf("agent %s: %w", name, err)
		}
	}
	if a == nil {
		all, err := c.agents.ListAgents(ctx)
		if err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		var named, live []app.Agent
		for _, x := range all {
			if !strings.EqualFold(x.Hostname, name) {
				continue
			}
			named = append(named, x)
			if c.selects(&x) && !x.Revoked {
				live = append(live, x)
			}
		}
		switch {
		case len(named) == 0:
			return nil, app.Errorf(app.ENOTFOUND, "no enrolled agent has host %q", name)
		case len(live) > 1:
			ids := make([]string, len(live))
			for i := range live {
				ids[i] = live[i].ID
			}
			return nil, app.Errorf(app.EINVALID, "host %q names %d agents of this connector (%s); give the agent id as host",
				name, len(live), strings.Join(ids, ", "))
		case len(live) == 1:
			a = &live[0]
		default:
			// Only excluded or revoked agents have that name: say why
			// about the first (the most specific reason wins below).
			a = &named[0]
			for i := range named {
				if c.selects(&named[i]) {
					a = &named[i]
					break
				}
			}
		}
	}
	if !c.selects(a) {
		return nil, app.Errorf(app.EINVALID, "agent %s (%s) is not part of this connector: it lacks the labels %s",
			a.ID, a.Hostname, strings.TrimPrefix(selectorPhrase(c.cfg.Labels), "with labels "))
	}
	if a.Revoked {
		return nil, app.Errorf(app.EINVALID, "agent %s (%s) is revoked; enroll the host again with a new token", a.ID, a.Hostname)
	}
	if a.Users == nil { // ListAgents leaves the inventory out
		full, err := c.agents.AgentByID(ctx, a.ID)
		if err != nil {
			return nil, fmt.Errorf("agent %s: %w", a.ID, err)
		}
		a = full
	}
	return hostOf(a)
}

// hostOf decodes an agent's stored heartbeat data.
func hostOf(a *app.Agent) (*host, error) {
	h := &host{agent: a}
	if len(a.Users) > 0 && string(a.Users) != "null" {
		if err := json.Unmarshal(a.Users, &h.users); err != nil {
			return nil, fmt.Errorf("agent %s: stored inventory: %w", a.ID, err)
		}
		h.hasInv = true
	}
	if len(a.Facts) > 0 && string(a.Facts) != "null" {
		if err := json.Unmarshal(a.Facts, &h.facts); err != nil {
			return nil, fmt.Errorf("agent %s: stored facts: %w", a.ID, err)
		}
	}
	return h, nil
}

// seen says how old the host's inventory is, for plans.
func (h *host) seen(now time.Time) string {
	if h.agent.LastSeen.IsZero() {
		return "no heartbeat yet"
	}
	return "last heartbeat " + ago(now.Sub(h.agent.LastSeen)) + " ago"
}

// ago rounds an age for people: seconds, minutes, hours, then days.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dd", d/(24*time.Hour))
}
