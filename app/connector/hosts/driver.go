// Package hosts is the connector for hosts run by enrolled Nexplane
// agents. A connector of this type is a group of agents chosen by labels;
// its operations are the agent/ops host operations plus the host they run
// on, and executing one hands it to that host's agent and waits for the
// agent's result. Its inventory (hosts, local users, SSH keys) comes from
// the agents' last heartbeats as stored by the control plane: a sync never
// touches the network.
//
// The control plane never dials an agent. Work reaches an agent through a
// Dispatcher (the agent listener's hub in a server process), which queues it
// for the agent's long-poll and hands back its result.
package hosts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
)

// Type is the connector type name.
const Type = "agents"

// Dispatcher hands one work item to an agent and waits for its result. When
// ctx ends first it must withdraw the item, so that nothing stays queued for
// an agent that stayed away, and return an error wrapping ctx's error. An
// error may implement WasDelivered() bool to say that the agent had already
// received the item. *dispatch.Hub implements it.
type Dispatcher interface {
	Dispatch(ctx context.Context, agentID string, w ops.Work) (ops.Result, error)
}

// AgentSource reads enrolled agents as the control plane stores them;
// app.Store (and so *store.DB) implements it.
type AgentSource interface {
	// ListAgents returns every agent; Users may be left out.
	ListAgents(ctx context.Context) ([]app.Agent, error)
	// AgentByID returns one agent with its last inventory (Users), or an
	// app error with code ENOTFOUND.
	AgentByID(ctx context.Context, id string) (*app.Agent, error)
}

// Driver implements app.ConnectorDriver for groups of agents. Build it with
// NewDriver; it needs the runtime parts a server process provides.
type Driver struct {
	dispatch Dispatcher
	agents   AgentSource
	now      func() time.Time
}

var (
	_ app.ConnectorDriver    = Driver{}
	_ app.HygieneRules       = Driver{}
	_ app.Revoker            = Driver{}
	_ app.VolatileAttributes = Driver{}
)

// NewDriver returns the driver. d may be nil in processes that do not serve
// agents (Plan and sync then still work; Execute fails as unavailable);
// clock nil means time.Now.
func NewDriver(d Dispatcher, agents AgentSource, clock func() time.Time) Driver {
	if clock == nil {
		clock = time.Now
	}
	return Driver{dispatch: d, agents: agents, now: clock}
}

// Type returns "agents".
func (Driver) Type() string { return Type }

// Config is the connector configuration. There are no credentials: agents
// authenticate with their own certificates.
type Config struct {
	// Labels select the agents of this connector: an agent belongs when it
	// carries every one of these labels with the same value. Empty selects
	// every enrolled agent.
	Labels map[string]string `json:"labels"`
	// Timeout is how long an operation waits for its agent's result (a Go
	// duration, 5s to 10m); default "60s".
	Timeout string `json:"timeout"`
	// SSHKeyMaxAgeDays is the age (1 to 3650 days since the key was first
	// seen) past which host.ssh_key.too_old fires; default 365.
	SSHKeyMaxAgeDays *int `json:"ssh_key_max_age_days"`
	// SyncInterval is how often the stored inventory is read into assets
	// (app.ParseSyncInterval); default 5m.
	SyncInterval string `json:"sync_interval"`
}

// Defaults and bounds of Config.
const (
	DefaultTimeout          = 60 * time.Second
	MinTimeout              = 5 * time.Second
	MaxTimeout              = 10 * time.Minute
	DefaultSSHKeyMaxAgeDays = 365
	maxSSHKeyMaxAgeDays     = 3650
	// syncInterval is shorter than app.DefaultSyncInterval: agents report
	// every 15 s and a sync reads only the database.
	syncInterval = 5 * time.Minute
)

// config is a parsed, checked Config.
type config struct {
	Config
	timeout time.Duration
}

// ValidateConfig checks the config and returns its normal form, defaults
// filled in.
func (Driver) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("agents: encode config: %w", err)
	}
	return out, nil
}

// parseConfig decodes strictly, validates and fills in defaults. Connect
// calls it too, so a config edited behind the application's back is still
// checked.
func parseConfig(raw json.RawMessage) (*config, error) {
	var c config
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage(`{}`)
	}
	if err := app.DecodeStrictJSON(raw, &c.Config); err != nil {
		return nil, app.Errorf(app.EINVALID, "agents config: %s", err)
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if err := app.ValidateLabels(c.Labels); err != nil {
		return nil, app.Errorf(app.EINVALID, "agents config: labels: %s", app.ErrMessage(err))
	}

	c.Timeout = strings.TrimSpace(c.Timeout)
	c.timeout = DefaultTimeout
	if c.Timeout == "" {
		c.Timeout = formatDuration(DefaultTimeout)
	} else {
		d, err := time.ParseDuration(c.Timeout)
		if err != nil {
			return nil, app.Errorf(app.EINVALID, "agents config: timeout %q is not a duration like 60s or 5m", c.Timeout)
		}
		if d < MinTimeout || d > MaxTimeout {
			return nil, app.Errorf(app.EINVALID, "agents config: timeout must be between 5s and 10m, not %s", c.Timeout)
		}
		c.timeout = d
	}

	if c.SSHKeyMaxAgeDays == nil {
		d := DefaultSSHKeyMaxAgeDays
		c.SSHKeyMaxAgeDays = &d
	} else if d := *c.SSHKeyMaxAgeDays; d < 1 || d > maxSSHKeyMaxAgeDays {
		return nil, app.Errorf(app.EINVALID, "agents config: ssh_key_max_age_days must be between 1 and %d, not %d", maxSSHKeyMaxAgeDays, d)
	}

	d, err := app.ParseSyncInterval(c.SyncInterval, syncInterval)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "agents config: %s", app.ErrMessage(err))
	}
	c.SyncInterval = app.FormatSyncInterval(d)
	return &c, nil
}

// ValidateCredentials accepts only nothing at all or an empty object:
// agents authenticate with their own certificates, and a connector that
// stored a secret for them would only be a secret to leak. The message
// never quotes what was sent.
func (Driver) ValidateCredentials(raw []byte) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t, &m); err == nil && len(m) == 0 {
		return nil
	}
	return app.Errorf(app.EINVALID, "agents connectors take no credentials (agents authenticate with their own certificates); leave credentials empty or {}")
}

// Connect checks the config and returns a session over the stored agents;
// nothing is dialled.
func (d Driver) Connect(_ context.Context, raw json.RawMessage, credentials []byte) (app.Conn, error) {
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	if err := d.ValidateCredentials(credentials); err != nil {
		return nil, err
	}
	if d.agents == nil {
		return nil, app.Errorf(app.EUNAVAILABLE, "agents connector: this process has no access to enrolled agents")
	}
	return &conn{cfg: cfg, dispatch: d.dispatch, agents: d.agents, now: d.now}, nil
}

// conn is one connector session: the config and the runtime parts.
type conn struct {
	cfg      *config
	dispatch Dispatcher
	agents   AgentSource
	now      func() time.Time
}

var _ app.InventoryConn = (*conn)(nil)

func connOf(c app.Conn) (*conn, error) {
	ac, ok := c.(*conn)
	if !ok {
		return nil, fmt.Errorf("agents: operation given a %T connection", c)
	}
	return ac, nil
}

// Close does nothing: a session holds no resources.
func (*conn) Close() error { return nil }

// Test reports how many agents the label selector selects and how many of
// them are online.
func (c *conn) Test(ctx context.Context) (string, error) {
	all, err := c.agents.ListAgents(ctx)
	if err != nil {
		return "", fmt.Errorf("list agents: %w", err)
	}
	now := c.now()
	var n, online, revoked int
	for i := range all {
		if !c.selects(&all[i]) {
			continue
		}
		n++
		switch all[i].Status(now) {
		case app.AgentOnline:
			online++
		case app.AgentRevoked:
			revoked++
		}
	}
	s := fmt.Sprintf("%d %s %s (%d online, %d offline, %d revoked)", n, plural(n, "agent", "agents"),
		selectorPhrase(c.cfg.Labels), online, n-online-revoked, revoked)
	return s, nil
}

// selects reports whether a's labels include every selector label.
func (c *conn) selects(a *app.Agent) bool {
	for k, v := range c.cfg.Labels {
		if got, ok := a.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// selectorPhrase says which agents a selector picks, labels sorted.
func selectorPhrase(labels map[string]string) string {
	if len(labels) == 0 {
		return "selected (all enrolled agents)"
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return "with labels " + strings.Join(parts, ", ")
}

// formatDuration prints whole seconds below two minutes ("60s") and whole
// minutes above, as people write them.
func formatDuration(d time.Duration) string {
	switch {
	case d%time.Minute == 0 && d >= 2*time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
