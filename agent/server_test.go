package agent

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/agentapi"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// testActor is the operator who makes tokens, reads agents and revokes
// them in these tests (the CLI's system actor).
var testActor = app.SystemActor("agent-test")

// testServer is the real agent listener in-process, wired as cmd/nexplane
// wires it: a migrated store (SQLite, or PostgreSQL when
// NEXPLANE_TEST_POSTGRES_URL is set), the agent CA kept in it, the service,
// the hub, and agentapi's handler behind agentapi.TLSConfig on a TLS socket.
type testServer struct {
	URL string
	db  *store.DB
	svc *app.Service
	ca  *pki.CA
	hub *dispatch.Hub
	srv *httptest.Server
	// requests counts requests that got past TLS to the handler.
	requests atomic.Int64
	// active counts requests whose handler has not returned yet.
	active atomic.Int64
}

type serverOptions struct {
	// certLife is the agent certificate lifetime (NEXPLANE_AGENT_CERT_TTL);
	// zero keeps pki's default.
	certLife time.Duration
	// redeliverAfter is the hub's; zero keeps dispatch's default.
	redeliverAfter time.Duration
	// listen is the address to bind; default 127.0.0.1:0.
	listen string
}

// newAgentCA makes a real agent CA, kept in its own store.
func newAgentCA(t *testing.T) (*pki.CA, *store.DB, *vault.Vault) {
	t.Helper()
	k := testkit.NewService(t, testkit.Options{Agents: true})
	return k.CA, k.DB, k.Vault
}

func newTestServer(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	hub := dispatch.NewHub(dispatch.HubConfig{RedeliverAfter: o.redeliverAfter, Logger: quiet})
	k := testkit.NewService(t, testkit.Options{Agents: true, Log: quiet,
		Configure: func(c *app.Config) { c.AgentRevoked = hub.Revoke }})
	ca, db, svc := k.CA, k.DB, k.Service
	ca.SetAgentValidity(o.certLife) // before serving, as the server does
	serverCert, err := ca.ServerCert(pki.AgentListenerHosts(nil), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{db: db, svc: svc, ca: ca, hub: hub}
	h := httpx.RequestIDs(agentapi.New(agentapi.Config{Service: svc, Hub: hub, CA: ca, Logger: quiet}))
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.active.Add(1)
		defer s.active.Add(-1)
		h.ServeHTTP(w, r)
	}))
	if o.listen != "" {
		ln, err := net.Listen("tcp", o.listen)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", o.listen, err)
		}
		s.srv.Listener.Close()
		s.srv.Listener = ln
	}
	s.srv.TLS = agentapi.TLSConfig(ca, serverCert)
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	s.srv.StartTLS()
	s.URL = s.srv.URL
	t.Cleanup(s.close)
	return s
}

// close ends open polls (as the server's shutdown does) and stops the
// listener. It may be called more than once.
func (s *testServer) close() {
	s.hub.Close()
	s.srv.Close()
}

func (s *testServer) fingerprint() string { return s.ca.Fingerprint() }

// token makes a single-use enrollment token, as `nexplane agent token` does.
func (s *testServer) token(t *testing.T) string {
	t.Helper()
	tok, _, err := s.svc.CreateEnrollmentToken(context.Background(), testActor, map[string]string{"env": "test"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// enrollOpts enrolls into dir with a fresh token.
func (s *testServer) enrollOpts(t *testing.T, dir string) EnrollOptions {
	t.Helper()
	return EnrollOptions{Server: s.URL, Token: s.token(t), CASHA256: s.fingerprint(), StateDir: dir, Hostname: "host-a"}
}

// enroll runs the agent's enrollment into dir and returns its identity.
func (s *testServer) enroll(t *testing.T, dir string) Identity {
	t.Helper()
	id, err := Enroll(context.Background(), s.enrollOpts(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// agent is the server's record of an agent.
func (s *testServer) agent(t *testing.T, id string) *app.Agent {
	t.Helper()
	a, err := s.svc.GetAgent(context.Background(), testActor, id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// dispatch hands w to the agent through the hub and returns its result.
func (s *testServer) dispatch(agentID string, w ops.Work) (ops.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return s.hub.Dispatch(ctx, agentID, w)
}

// revoke revokes the agent as an operator does.
func (s *testServer) revoke(t *testing.T, id string) {
	t.Helper()
	if _, err := s.svc.RevokeAgent(context.Background(), testActor, id); err != nil {
		t.Fatal(err)
	}
}
