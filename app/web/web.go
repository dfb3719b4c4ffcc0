// Package web is the server-rendered console: templ pages from package views,
// htmx for partial updates, server-side sessions and CSRF protection. The
// handlers decode the request, call app.Service and render a view model; the
// rules (who may do what) live in app.
package web

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/a-h/templ"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// Config wires the console.
type Config struct {
	Service *app.Service
	// Setup is the first-admin gate; nil when no setup is pending.
	Setup *app.SetupGate
	// Secure marks the session cookie Secure and gives it the __Host- prefix.
	// It is false only under NEXPLANE_INSECURE_HTTP.
	Secure bool
	// CookieKey MACs the session cookie (32+ bytes, derived from SECRET_KEY).
	CookieKey []byte
	Logger    *slog.Logger
	Clock     app.Clock
	// AgentURL is the agent listener's public URL, for the enroll command
	// the console shows with a new token; empty shows a placeholder.
	AgentURL string
	// SyslogTarget names the SIEM audit records are forwarded to; empty
	// when forwarding is off (no status panel).
	SyslogTarget string
	// PublicURL is the console's public URL (NEXPLANE_PUBLIC_URL,
	// https://host[:port]); passkeys take their RP ID and origin from it.
	// Empty derives them from each request's Host (development).
	PublicURL string
}

// minCookieKey is the shortest MAC key we accept: 256 bits.
const minCookieKey = 32

// maxFormBytes caps every form body; the console's forms are tiny.
const maxFormBytes = 64 << 10

// handler holds the console's dependencies; no package-level state.
type handler struct {
	svc      *app.Service
	setup    *app.SetupGate
	sessions *sessionStore
	log      *slog.Logger
	now      app.Clock
	agentURL string
	syslog   string
	// publicURL is Config.PublicURL parsed; nil when not configured.
	publicURL *url.URL
}

// New builds the console handler. The caller wraps it with request ids,
// panic recovery (httpx.Recover with RenderInternalError) and security
// headers; New adds the cross-origin (CSRF) protection itself so that no
// wiring can forget it.
func New(cfg Config) (http.Handler, error) {
	if cfg.Service == nil {
		return nil, errors.New("web: Config.Service is required")
	}
	if len(cfg.CookieKey) < minCookieKey {
		return nil, errors.New("web: Config.CookieKey must be at least 32 bytes")
	}
	h := &handler{svc: cfg.Service, setup: cfg.Setup, log: cfg.Logger, now: cfg.Clock, agentURL: cfg.AgentURL,
		syslog: cfg.SyslogTarget}
	pub, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("web: Config.PublicURL: %w", err)
	}
	h.publicURL = pub
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.sessions = newSessionStore(cfg.Service, cfg.CookieKey, cfg.Secure, h.log)

	mux := http.NewServeMux()
	h.routes(mux)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(h.crossOriginRefused))
	return cop.Handler(mux), nil
}

// routes registers every console route; each feature's handlers live in
// their own file.
func (h *handler) routes(mux *http.ServeMux) {
	mux.Handle("GET /static/", views.StaticHandler())

	mux.HandleFunc("GET /login", h.loginForm)
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.logout)
	mux.HandleFunc("GET /login/mfa", h.mfaLoginForm)
	mux.HandleFunc("POST /login/mfa", h.mfaLogin)

	mux.Handle("GET /account/mfa", h.authedEnrolling(h.mfaAccount))
	mux.Handle("POST /account/mfa/enroll", h.authedEnrolling(h.mfaEnrol))
	mux.Handle("POST /account/mfa/confirm", h.authedEnrolling(h.mfaConfirm))
	mux.Handle("POST /account/mfa/recovery-codes", h.authed(h.mfaRegenerate))
	mux.Handle("POST /account/mfa/disable", h.authed(h.mfaDisable))
	h.passkeyRoutes(mux)
	h.revealRoutes(mux)
	h.ssoRoutes(mux)
	mux.Handle("GET /settings", h.authed(h.settingsPage))
	mux.Handle("POST /settings", h.authed(h.saveSettings))

	mux.HandleFunc("GET /setup", h.setupForm)
	mux.HandleFunc("POST /setup", h.setupSubmit)

	mux.Handle("GET /{$}", h.authed(h.dashboard))
	h.changeRoutes(mux)
	h.assetRoutes(mux)

	mux.Handle("GET /connectors", h.authed(h.listConnectors))
	mux.Handle("GET /connectors/new", h.authed(h.newConnectorForm))
	mux.Handle("POST /connectors/new", h.authed(h.createConnector))
	mux.Handle("GET /connectors/{id}", h.authed(h.connectorDetail))
	mux.Handle("POST /connectors/{id}", h.authed(h.updateConnector))
	mux.Handle("POST /connectors/{id}/test", h.authed(h.testConnector))
	mux.Handle("GET /connectors/{id}/delete", h.authed(h.confirmDeleteConnector))
	mux.Handle("POST /connectors/{id}/delete", h.authed(h.deleteConnector))
	h.agentRoutes(mux)

	mux.Handle("GET /users", h.authed(h.listUsers))
	mux.Handle("POST /users", h.authed(h.createUser))
	mux.Handle("POST /users/{id}", h.authed(h.updateUser))
	mux.Handle("POST /users/{id}/login-throttle", h.authed(h.clearLoginThrottle))
	h.accountRoutes(mux)
	h.tokenRoutes(mux)

	mux.Handle("GET /audit", h.authed(h.auditList))
	mux.Handle("GET /audit/export", h.authed(h.auditExport))
	mux.Handle("GET /audit/{id}", h.authed(h.auditDetail))

	// Everything else is a readable 404 rather than the mux's plain text.
	mux.HandleFunc("/", h.notFound)
}

// render writes a component with status. The page is rendered into a buffer
// first, so a template error becomes a clean 500 instead of half a page.
// With fragment ids only those parts are written (htmx partial updates).
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component, fragments ...any) {
	var buf bytes.Buffer
	var err error
	if len(fragments) > 0 {
		err = templ.RenderFragments(r.Context(), &buf, c, fragments...)
	} else {
		err = c.Render(r.Context(), &buf)
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "render page", "path", r.URL.Path, "err", err)
		RenderInternalError(w, r)
		return
	}
	writeHTML(w, status, buf.Bytes())
}

// writeHTML sends a rendered page. Console pages are never cached: they show
// what one user may see, at one moment.
func writeHTML(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// isHTMX reports whether htmx sent the request to swap part of a page. A
// history-restore request wants the whole page, so it does not count.
func isHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-History-Restore-Request") != "true"
}

// redirect sends a browser to a local path after a POST (303 so the next
// request is a GET).
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}
