package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/agentapi"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/pki"
)

// agentListener is the agent channel: its own mutual-TLS server on
// NEXPLANE_AGENT_LISTEN, so that agent certificates never reach the
// console or the user API and the user listener never asks for them.
type agentListener struct {
	ln    net.Listener
	srv   *http.Server
	hub   *dispatch.Hub
	relay *dispatch.Relay
	url   string // public URL for the enroll command
	caSHA string
}

// setupAgents binds the agent listener, loads (or creates) the agent CA and
// rebuilds the service with it, so that enrollment and revocation reach the
// hub. It returns nil when NEXPLANE_AGENT_LISTEN=off.
func setupAgents(ctx context.Context, e *env, d *deps) (*agentListener, error) {
	cfg := d.cfg
	if cfg.AgentListen == "off" {
		e.log.Warn("NEXPLANE_AGENT_LISTEN=off: no agent listener; hosts cannot enroll here, and host operations reach only agents polling other servers of this database")
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.AgentListen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, configErr("NEXPLANE_AGENT_LISTEN %s: address already in use", cfg.AgentListen)
		}
		return nil, configErr("NEXPLANE_AGENT_LISTEN %s: %v", cfg.AgentListen, err)
	}
	fail := func(err error) (*agentListener, error) { ln.Close(); return nil, err }
	ca, err := pki.LoadOrCreateCA(ctx, d.store, d.vault, time.Now())
	if err != nil {
		return fail(fmt.Errorf("agent CA: %w", err))
	}
	ca.SetAgentValidity(cfg.AgentCertTTL)
	serverCert, err := ca.ServerCert(pki.AgentListenerHosts(cfg.AgentHostnames), time.Now())
	if err != nil {
		return fail(fmt.Errorf("agent listener certificate: %w", err))
	}
	hub := dispatch.NewHub(dispatch.HubConfig{Logger: e.log})
	svcCfg := d.svcCfg
	svcCfg.Agents, svcCfg.AgentRevoked = ca, hub.Revoke
	d.svc = app.NewService(svcCfg)

	// Servers sharing a database relay host operations to the one holding
	// the agent's poll; each process has its own name for that.
	serverID, err := newServerID()
	if err != nil {
		return fail(err)
	}
	relay := dispatch.NewRelay(dispatch.RelayConfig{Hub: hub, Store: d.store, ServerID: serverID, Logger: e.log})
	var h http.Handler = agentapi.New(agentapi.Config{Service: d.svc, Hub: hub, CA: ca, Logger: e.log, ServerID: serverID})
	h = httpx.Recover(e.log, func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, e.log, errors.New("panic"))
	})(h)
	h = httpx.RequestIDs(h)
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         agentapi.TLSConfig(ca, serverCert),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A poll is held up to ops.MaxPollWaitSeconds (30 s): leave room.
		WriteTimeout: 45 * time.Second,
		// Agents poll back-to-back; a longer idle keeps their connections
		// (and spares handshakes) across short gaps.
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 16 << 10,
		// Failed handshakes (wrong CA, expired certificates) are worth a
		// structured line, not raw stderr.
		ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelInfo),
	}
	// Shutdown waits for idle connections; end open polls so it need not
	// wait out 30 seconds.
	srv.RegisterOnShutdown(hub.Close)
	return &agentListener{ln: ln, srv: srv, hub: hub, relay: relay, url: agentPublicURL(cfg, ln.Addr().String()),
		caSHA: ca.Fingerprint()}, nil
}

// serve runs the listener and the revocation watcher until ctx ends;
// errors from Serve go to errc.
func (a *agentListener) serve(ctx context.Context, e *env, d *deps, errc chan<- error) {
	e.log.Info("agent listener", "addr", a.ln.Addr().String(), "url", a.url, "ca_sha256", a.caSHA)
	go dispatch.WatchRevocations(ctx, d.svc, a.hub, time.Second, e.log)
	go a.relay.Run(ctx)
	go func() {
		if err := a.srv.ServeTLS(a.ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("agent listener: %w", err)
		}
	}()
}

func (a *agentListener) shutdown(ctx context.Context) error {
	if err := a.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("agent listener shutdown: %w", err)
	}
	return nil
}

// newServerID names this server process among those sharing the database:
// the host name (for people reading agents.server) and 64 random bits.
func newServerID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("server id: %w", err)
	}
	host, _ := os.Hostname()
	return host + "/" + hex.EncodeToString(b[:]), nil
}
