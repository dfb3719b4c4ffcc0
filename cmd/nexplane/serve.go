package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/scheduler"
	"github.com/nexplane/nexplane/app/siem"
	"github.com/nexplane/nexplane/app/tlspolicy"
	"github.com/nexplane/nexplane/app/web"
)

func cmdServe(ctx context.Context, e *env, args []string) error {
	cfg, err := loadConfig(e.getenv, newFlagSet("serve", e.stderr), args, true)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		release, err := lockDataDir(cfg.DataDir) // restore refuses to run while this is held
		if err != nil {
			return err
		}
		defer release()
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	if cfg.AuditWitness != "" {
		// Before listening: a database rolled back behind its witness
		// must not take requests.
		if d.witness, err = startWitness(ctx, e, d, cfg.AuditWitness, cfg.AcceptAuditRollback); err != nil {
			return err
		}
		e.log.Info("audit checkpoints witnessed", "path", cfg.AuditWitness)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return configErr("NEXPLANE_LISTEN %s: address already in use", cfg.Listen)
		}
		return configErr("NEXPLANE_LISTEN %s: %v", cfg.Listen, err)
	}
	agents, err := setupAgents(ctx, e, d)
	if err != nil {
		ln.Close()
		return err
	}
	if agents != nil {
		d.agentWork.relay.Store(agents.relay) // the agents connector's way to its agents
	} else {
		// No listener here: host operations can still reach agents polling
		// other servers of the same database.
		d.agentWork.relay.Store(dispatch.NewRelay(dispatch.RelayConfig{Store: d.store, Logger: e.log}))
	}
	srv, scheme, err := buildServer(ctx, e, d, agents)
	if err != nil {
		ln.Close()
		if agents != nil {
			agents.ln.Close()
		}
		return err
	}
	e.log.Info("nexplane listening", "version", version, "addr", ln.Addr().String(), "scheme", scheme,
		"driver", d.store.Driver(), "data_dir", absDataDir(cfg.DataDir))
	errc := make(chan error, 2)
	// The agent listener and relay outlive the signal until the engine has
	// drained: host operations in flight need their agents to answer.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	if agents != nil {
		agents.serve(life, e, d, errc)
	}

	go purgeSessions(ctx, e, d.svc)
	var fw *siem.Forwarder
	if cfg.Syslog != nil {
		// The lease owner outlives a crash: a server restarted on this host
		// and address resumes at once instead of waiting out its own lease.
		// Two live servers never share it, since they cannot share the address.
		host, _ := os.Hostname()
		fw = siem.New(siem.Config{Store: d.store, Target: cfg.Syslog, Owner: host + " " + cfg.Listen, Logger: e.log})
		d.store.OnAuditCommitted(fw.Notify)
		siemDone := make(chan struct{})
		go func() { fw.Run(ctx); close(siemDone) }()
		defer func() { <-siemDone }()
		e.log.Info("forwarding audit records", "target", cfg.Syslog.String())
	}
	e.log.Info("audit checkpoints signed", "key_id", d.auditSigner.KeyID(),
		"public_key", base64.StdEncoding.EncodeToString(d.auditSigner.PublicKey()))
	checkpointsDone := make(chan struct{})
	stored := func(c *app.Checkpoint) {
		d.witnessed(c)
		if fw != nil {
			fw.Notify() // the checkpoint is the SIEM's too
		}
	}
	go func() { d.svc.RunCheckpoints(ctx, d.auditSigner, time.Second, stored); close(checkpointsDone) }()
	defer func() { <-checkpointsDone }()
	engineDone := make(chan struct{})
	go func() { d.engine.Run(ctx); close(engineDone) }()
	defer func() { <-engineDone }()
	schedDone := make(chan struct{})
	go func() { scheduler.New(d.svc, e.log, 0).Run(ctx); close(schedDone) }()
	defer func() { <-schedDone }()
	go func() {
		if scheme == "https" {
			errc <- srv.ServeTLS(ln, "", "") // certificates come from srv.TLSConfig
			return
		}
		errc <- srv.Serve(ln)
	}()
	// Both listeners are bound and migrations are done: tell systemd
	// (Type=notify), and keep its watchdog fed while the database answers.
	if err := sdNotify(e.getenv, "READY=1"); err != nil {
		e.log.Warn("systemd notification", "err", err)
	}
	if every := watchdogInterval(e.getenv, os.Getpid()); every > 0 {
		go keepWatchdog(ctx, e, every, d.svc.Ready)
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	e.log.Info("shutting down: claiming no new work, finishing the operations in flight", "drain_timeout", cfg.DrainTimeout)
	_ = sdNotify(e.getenv, "STOPPING=1")
	<-engineDone
	endLife()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var agentErr error
	if agents != nil {
		agentErr = agents.shutdown(shutCtx)
	}
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return agentErr
}

// buildServer wires the HTTP stack: request id -> recover -> security
// headers -> routes (the console and API add auth and CSRF themselves).
func buildServer(ctx context.Context, e *env, d *deps, agents *agentListener) (*http.Server, string, error) {
	cfg := d.cfg
	key, err := auth.LoadOrCreateSigningKey(ctx, d.store, d.vault)
	if err != nil {
		return nil, "", fmt.Errorf("load JWT signing key: %w", err)
	}
	tokens, err := auth.NewTokens(key, tokenIssuer, tokenAudience, time.Now)
	if err != nil {
		return nil, "", fmt.Errorf("token issuer: %w", err)
	}
	ck, err := cookieKey(cfg.SecretKey)
	if err != nil {
		return nil, "", fmt.Errorf("derive cookie key: %w", err)
	}

	var setup *app.SetupGate
	if need, err := d.svc.NeedsSetup(ctx); err != nil {
		return nil, "", err
	} else if need {
		if setup, err = app.NewSetupGate(time.Now()); err != nil {
			return nil, "", fmt.Errorf("setup token: %w", err)
		}
		printSetupLink(e, cfg, setup.Token())
	}

	agentURL := ""
	if agents != nil {
		agentURL = agents.url
	}
	webHandler, err := web.New(web.Config{Service: d.svc, Setup: setup, Secure: !cfg.InsecureHTTP,
		CookieKey: ck, Logger: e.log, AgentURL: agentURL, SyslogTarget: syslogTarget(cfg), PublicURL: cfg.PublicURL})
	if err != nil {
		return nil, "", fmt.Errorf("console: %w", err)
	}
	apiCfg := api.Config{Service: d.svc, Tokens: tokens, Logger: e.log, AgentURL: agentURL}
	apiHandler := api.New(apiCfg)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		// Monitoring must get an answer even from a database that never
		// answers: not-ready after readyzTimeout, whatever the pool's deadlines.
		ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if d.engine.Draining() {
			httpx.WriteError(w, r, e.log, app.Errorf(app.EUNAVAILABLE, "shutting down"))
			return
		}
		if err := d.svc.Ready(r.Context()); err != nil {
			httpx.WriteError(w, r, e.log, err)
			return
		}
		body := map[string]any{"status": "ready"}
		if cfg.Syslog != nil {
			// A SIEM outage is reported, not fatal: the server keeps
			// working and resends the backlog when the SIEM is back.
			body["syslog"] = syslogDetails(r.Context(), d, cfg)
		}
		if d.witness != nil {
			// Like the SIEM: reported, not fatal.
			body["audit_witness"] = d.witness.status()
		}
		httpx.WriteJSON(w, http.StatusOK, body)
	})
	mux.Handle("/api/", apiHandler)
	mux.Handle("/.well-known/", apiHandler)
	mux.Handle("/", webHandler)

	recoverer := httpx.Recover(e.log, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			httpx.WriteError(w, r, e.log, errors.New("panic"))
			return
		}
		web.RenderInternalError(w, r)
	})
	var h http.Handler = mux
	h = httpx.SecurityHeaders(!cfg.InsecureHTTP)(h)
	h = recoverer(h)
	h = httpx.RequestIDs(h)

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	if cfg.InsecureHTTP {
		e.log.Warn("NEXPLANE_INSECURE_HTTP=1: serving plain HTTP; put a TLS-terminating proxy in front")
		return srv, "http", nil
	}
	var cert tls.Certificate
	if cfg.TLSCert != "" {
		cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, "", configErr("NEXPLANE_TLS_CERT/NEXPLANE_TLS_KEY: %v", err)
		}
	} else {
		cert, err = pki.LoadOrCreateSelfSigned(cfg.DataDir, time.Now())
		if err != nil {
			return nil, "", fmt.Errorf("self-signed certificate: %w", err)
		}
	}
	srv.TLSConfig = tlspolicy.Apply(&tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	})
	return srv, "https", nil
}

// readyzTimeout bounds /readyz: load balancers probe with short timeouts.
const readyzTimeout = 2 * time.Second

// syslogDetails is the SIEM forwarding part of /readyz.
func syslogDetails(ctx context.Context, d *deps, cfg *config) map[string]any {
	st, err := d.svc.OutboxStatus(ctx, app.OutboxSyslog)
	if err != nil {
		return map[string]any{"target": cfg.Syslog.String(), "ok": false, "last_error": "status unavailable"}
	}
	return map[string]any{"target": cfg.Syslog.String(), "ok": st.LastError == "", "backlog": st.Backlog,
		"last_seq": st.LastSeq, "last_error": st.LastError}
}

func syslogTarget(cfg *config) string {
	if cfg.Syslog == nil {
		return ""
	}
	return cfg.Syslog.String()
}

func printSetupLink(e *env, cfg *config, token string) {
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme := "https"
	if cfg.InsecureHTTP {
		scheme = "http"
	}
	link := fmt.Sprintf("%s://%s/setup?token=%s", scheme, net.JoinHostPort(host, port), token)
	fmt.Fprintf(e.stdout, "\nNo users yet. Create the first admin within %s at:\n\n    %s\n\nor run: nexplane user create --email you@example.com --role admin --password-stdin\n\n",
		app.SetupTTL, link)
}

func purgeSessions(ctx context.Context, e *env, svc *app.Service) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := svc.PurgeExpiredSessions(ctx); err != nil {
				e.log.Warn("purge expired sessions", "err", err)
			} else if n > 0 {
				e.log.Info("purged expired sessions", "count", n)
			}
			if n, err := svc.PurgeExpiredReveals(ctx); err != nil {
				e.log.Warn("purge expired one-time secrets", "err", err)
			} else if n > 0 {
				e.log.Info("erased unviewed one-time secrets", "count", n)
			}
		}
	}
}

func cmdMigrate(ctx context.Context, e *env, args []string) error {
	cfg, err := loadConfig(e.getenv, newFlagSet("migrate", e.stderr), args, false)
	if err != nil {
		return err
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	applied, latest, err := d.store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "schema at version %d of %d\n", applied, latest)
	return nil
}
