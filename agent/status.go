package agent

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// StatusOptions configure Status.
type StatusOptions struct {
	StateDir     string // default DefaultStateDir
	Server       string // overrides the enrolled server
	Root         string // system root for the heartbeat's inventory; default "/"
	AgentVersion string
	Timeout      time.Duration // connectivity check; default 15 s
}

// StatusReport is what nexplane-agent status prints.
type StatusReport struct {
	AgentID   string
	Server    string
	Subject   string
	Serial    string // hex
	NotBefore time.Time
	NotAfter  time.Time
	Remaining time.Duration
	// Connectivity is nil when an authenticated heartbeat was accepted.
	Connectivity error
}

// Status reads the identity and checks the channel with one heartbeat: a
// full mTLS handshake plus an authenticated request. A heartbeat, unlike a
// poll, cannot take work this process would then not run.
func Status(ctx context.Context, o StatusOptions) (StatusReport, error) {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	st, err := loadState(o.StateDir)
	if err != nil {
		return StatusReport{}, err
	}
	server := st.id.Server
	if o.Server != "" {
		if server, err = NormalizeServer(o.Server); err != nil {
			return StatusReport{}, err
		}
	}
	leaf := st.cert.Leaf
	rep := StatusReport{
		AgentID: st.id.AgentID, Server: server, Subject: leaf.Subject.String(),
		Serial: leaf.SerialNumber.Text(16), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		Remaining: time.Until(leaf.NotAfter),
	}
	holder := &certHolder{}
	cert := st.cert
	holder.Store(&cert)
	c := newClient(server, mtlsConfig(st.ca, serverName(server), holder))
	defer c.closeIdle()
	hb, err := CollectHeartbeat(o.Root, o.AgentVersion)
	if err != nil {
		rep.Connectivity = err
		return rep, nil
	}
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := c.do(cctx, http.MethodPost, ops.PathHeartbeat, hb, nil); err != nil {
		rep.Connectivity = fmt.Errorf("heartbeat: %w", err)
	}
	return rep, nil
}
