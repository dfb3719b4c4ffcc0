// Package agentapi serves the agent listener (NEXPLANE_AGENT_LISTEN):
// enrollment over server-authenticated TLS, and then only mutual TLS with
// certificates from the internal CA. Paths and messages are agent/ops's.
package agentapi

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/tlspolicy"
)

// Body limits. Enrollment and renewal carry one CSR; a heartbeat carries a
// host's whole user and key inventory.
const (
	maxSmallBody     = 64 << 10
	maxResultsBody   = 1 << 20
	maxHeartbeatBody = 4 << 20
)

// Config wires the agent handler.
type Config struct {
	Service *app.Service
	Hub     *dispatch.Hub
	// CA is the only issuer whose agent certificates are accepted.
	CA     *pki.CA
	Logger *slog.Logger
	// ServerID names this server process among those sharing the database;
	// polls record it on the agent so that work executed elsewhere is
	// relayed here (see dispatch.Relay). "" records nothing.
	ServerID string
}

type server struct {
	svc      *app.Service
	hub      *dispatch.Hub
	caFP     string
	log      *slog.Logger
	serverID string
}

// New returns the agent listener's handler. Serve it with TLSConfig; it
// refuses every request but enrollment that lacks a verified client
// certificate of an enrolled, non-revoked agent.
func New(cfg Config) http.Handler {
	s := &server{svc: cfg.Service, hub: cfg.Hub, caFP: cfg.CA.Fingerprint(), log: cfg.Logger, serverID: cfg.ServerID}
	if s.log == nil {
		s.log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ops.PathEnroll, s.enroll)
	mux.Handle("GET "+ops.PathWork, s.authed(s.poll))
	mux.Handle("POST "+ops.PathResults, s.authed(s.results))
	mux.Handle("POST "+ops.PathHeartbeat, s.authed(s.heartbeat))
	mux.Handle("POST "+ops.PathRenew, s.authed(s.renew))
	return noStore(mux)
}

// TLSConfig is the agent listener's TLS: tlspolicy's versions and suites
// (TLS 1.3, or 1.2 with ECDHE AEAD suites only), the CA-signed ECDSA server certificate, and
// client certificates verified against the internal CA alone. Certificates
// are optional at this layer only because enrollment has none yet; every
// other route requires one (authed). Expired certificates and those of any
// other CA fail the handshake. Session tickets stay on (the default): a
// resumed handshake skips the expensive part, which matters when thousands
// of agents reconnect.
func TLSConfig(ca *pki.CA, serverCert tls.Certificate) *tls.Config {
	return tlspolicy.Apply(&tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    ca.Pool(),
		NextProtos:   []string{"h2", "http/1.1"},
	})
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if c := app.ErrCode(err); c == app.EFORBIDDEN || c == app.EUNAUTHORIZED {
		// Make the agent reconnect (and show its certificate again) rather
		// than reuse a connection that is no longer good for anything.
		w.Header().Set("Connection", "close")
	}
	httpx.WriteError(w, r, s.log, err)
}

type agentKey struct{}

// authedAgent is what authed puts in the request context.
type authedAgent struct {
	agent  *app.Agent
	serial string
}

func agentFrom(ctx context.Context) authedAgent {
	a, _ := ctx.Value(agentKey{}).(authedAgent)
	return a
}

// authed admits a request only with a client certificate that the TLS
// layer verified against our CA, naming an enrolled agent that is not
// revoked and whose current (or just-replaced) certificate it is. The
// database is asked on every request, so a revocation takes effect on the
// next request from any server process.
func (s *server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) < 2 {
			s.fail(w, r, app.Errorf(app.EUNAUTHORIZED, "a client certificate from the Nexplane agent CA is required"))
			return
		}
		chain := r.TLS.VerifiedChains[0]
		leaf, root := chain[0], chain[len(chain)-1]
		// ClientCAs holds our CA alone; checking the root again keeps that
		// true even if this handler is ever served with another TLS config.
		if pki.Fingerprint(root.Raw) != s.caFP {
			s.fail(w, r, app.Errorf(app.EUNAUTHORIZED, "client certificate is not from the Nexplane agent CA"))
			return
		}
		// TLS checks expiry once per connection; a long-lived connection
		// must not outlive its certificate.
		if now := s.svc.Now(); now.After(leaf.NotAfter) {
			s.fail(w, r, app.Errorf(app.EUNAUTHORIZED, "client certificate expired at %s; reconnect with the renewed one", leaf.NotAfter.UTC().Format(time.RFC3339)))
			return
		}
		id, ok := strings.CutPrefix(leaf.Subject.CommonName, pki.AgentCNPrefix)
		if !ok || !app.ValidAgentID(id) {
			s.fail(w, r, app.Errorf(app.EUNAUTHORIZED, "client certificate does not name an agent"))
			return
		}
		serial := pki.SerialString(leaf.SerialNumber)
		a, err := s.svc.AuthenticateAgent(r.Context(), id, serial)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), agentKey{}, authedAgent{agent: a, serial: serial})))
	})
}

// noStore: responses carry certificates and work; never cache them.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.NoStore(w)
		next.ServeHTTP(w, r)
	})
}
