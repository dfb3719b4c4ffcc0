package hosts_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/hosts"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// env is a real store, a real agent CA, a service that enrolls agents and
// records their heartbeats, a real hub, and the agents driver over them.
type env struct {
	t     *testing.T
	db    *store.DB
	svc   *app.Service
	hub   *dispatch.Hub
	clock *testkit.Clock
	reg   *app.Registry
	drv   hosts.Driver
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, hub: dispatch.NewHub(dispatch.HubConfig{})}
	t.Cleanup(e.hub.Close)
	k := testkit.NewService(t, testkit.Options{
		Clock: testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		Drivers: func(reg *app.Registry, db *store.DB, clock *testkit.Clock) {
			e.drv = hosts.NewDriver(e.hub, db, clock.Now)
			hosts.Register(reg, e.drv)
		},
		Agents:    true,
		Configure: func(c *app.Config) { c.AgentRevoked = e.hub.Revoke },
	})
	e.db, e.svc, e.clock, e.reg = k.DB, k.Service, k.Clock, k.Registry
	return e
}

// enroll creates an agent as a host would: token with labels, CSR, enroll.
func (e *env) enroll(hostname string, labels map[string]string) *app.Agent {
	e.t.Helper()
	ctx := e.t.Context()
	tok, _, err := e.svc.CreateEnrollmentToken(ctx, app.SystemActor("test"), labels, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	// Every test agent has the same key: the CA signs only its public key.
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}, testkit.RSAKey(e.t, 0))
	if err != nil {
		e.t.Fatal(err)
	}
	enr, err := e.svc.Enroll(ctx, tok, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), hostname)
	if err != nil {
		e.t.Fatal(err)
	}
	return enr.Agent
}

// heartbeat records what the agent on a host would report now.
func (e *env) heartbeat(a *app.Agent, users []ops.HostUser) {
	e.t.Helper()
	hb := ops.Heartbeat{Facts: ops.Facts{Hostname: a.Hostname, OS: "Debian GNU/Linux 13", Kernel: "6.12.0", AgentVersion: "1.2.3"},
		Users: users}
	if err := e.svc.RecordHeartbeat(e.t.Context(), a.ID, hb); err != nil {
		e.t.Fatal(err)
	}
}

// connect opens the driver with a config as an Admin would enter it.
func (e *env) connect(config string) app.Conn {
	e.t.Helper()
	norm, err := e.drv.ValidateConfig(json.RawMessage(config))
	if err != nil {
		e.t.Fatalf("config %s: %v", config, err)
	}
	c, err := e.drv.Connect(e.t.Context(), norm, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	return c
}

// op decodes through the registry, as the application does.
func (e *env) op(typ, params string) app.Operation {
	e.t.Helper()
	op, err := e.reg.DecodeOperation(hosts.Type, typ, json.RawMessage(params))
	if err != nil {
		e.t.Fatalf("decode %s %s: %v", typ, params, err)
	}
	return op
}

// sshKey is a fresh ed25519 public key line and its fingerprint.
func sshKey(t *testing.T, comment string) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	str := func(b []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...) }
	blob := append(str([]byte("ssh-ed25519")), str(pub)...)
	line = "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob)
	if comment != "" {
		line += " " + comment
	}
	k, err := ops.ParsePublicKey(line)
	if err != nil {
		t.Fatal(err)
	}
	return line, k.Fingerprint
}

// fakeAgent is the agent's side of the channel, on the real hub: it polls
// like the agent's long-poll, decodes each work item strictly as the agent
// does, and answers through hub.Results. answer decides the result; nil
// means "take the work and never answer".
type fakeAgent struct {
	mu   sync.Mutex
	got  []ops.Work
	done chan struct{}
}

func startAgent(t *testing.T, h *dispatch.Hub, agentID string, answer func(ops.Work, ops.Op, error) *ops.Result) *fakeAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fa := &fakeAgent{done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-fa.done })
	go func() {
		defer close(fa.done)
		for ctx.Err() == nil {
			work, err := h.Poll(ctx, agentID, time.Second)
			if err != nil {
				return
			}
			var rs []ops.Result
			for _, w := range work {
				fa.mu.Lock()
				fa.got = append(fa.got, w)
				fa.mu.Unlock()
				op, err := ops.Decode(w.Type, w.Params)
				if r := answer(w, op, err); r != nil {
					r.ID = w.ID
					rs = append(rs, *r)
				}
			}
			if len(rs) > 0 {
				h.Results(agentID, rs)
			}
		}
	}()
	return fa
}

func (fa *fakeAgent) received() []ops.Work {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	return append([]ops.Work(nil), fa.got...)
}

// okAgent answers like a healthy agent: refusals for what Decode refuses,
// the operation's summary otherwise.
func okAgent(_ ops.Work, op ops.Op, err error) *ops.Result {
	if err != nil {
		return &ops.Result{OK: false, Error: "refused: " + err.Error()}
	}
	return &ops.Result{OK: true, Summary: op.Summary(), Details: map[string]any{"changed": true}}
}
