// Package api is the JSON API under /api/v1: decode, call the app, encode.
// No SQL and no rules live here.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/httpx"
)

// Config wires the API.
type Config struct {
	Service *app.Service
	Tokens  *auth.Tokens
	Logger  *slog.Logger
	// AgentURL is the agent listener's public base URL, for the enroll
	// command (NEXPLANE_AGENT_PUBLIC_URL).
	AgentURL string
	// CAFingerprint, when set, gives the agent CA's SHA-256 fingerprint;
	// otherwise the service's agent signer is asked.
	CAFingerprint func() string
}

type api struct {
	svc           *app.Service
	tokens        *auth.Tokens
	log           *slog.Logger
	agentURL      string
	caFingerprint func() string
}

// New returns the handler for /api/v1/ and /.well-known/jwks.json.
func New(cfg Config) http.Handler {
	a := &api{svc: cfg.Service, tokens: cfg.Tokens, log: cfg.Logger, agentURL: cfg.AgentURL, caFingerprint: cfg.CAFingerprint}
	if a.log == nil {
		a.log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", a.jwks)
	mux.HandleFunc("POST /api/v1/auth/login", a.login)
	mux.Handle("POST /api/v1/auth/password", a.authed(a.changePassword))
	mux.HandleFunc("POST /api/v1/auth/mfa", a.loginMFA)
	mux.Handle("GET /api/v1/settings", a.authed(a.getSettings))
	mux.Handle("PATCH /api/v1/settings", a.authed(a.patchSettings))

	mux.Handle("GET /api/v1/me", a.authed(a.me))
	mux.Handle("GET /api/v1/users", a.authed(a.listUsers))
	mux.Handle("POST /api/v1/users", a.authed(a.createUser))
	mux.Handle("GET /api/v1/users/{id}", a.authed(a.getUser))
	mux.Handle("PATCH /api/v1/users/{id}", a.authed(a.updateUser))
	mux.Handle("POST /api/v1/users/{id}/reset-password", a.authed(a.resetPassword))
	mux.Handle("GET /api/v1/users/{id}/tokens", a.authed(a.listUserTokens))
	mux.Handle("POST /api/v1/tokens", a.authed(a.createToken))
	mux.Handle("GET /api/v1/tokens", a.authed(a.listTokens))
	mux.Handle("DELETE /api/v1/tokens/{id}", a.authed(a.revokeToken))
	mux.Handle("GET /api/v1/service-accounts", a.authed(a.listServiceAccounts))
	mux.Handle("POST /api/v1/service-accounts", a.authed(a.createServiceAccount))
	mux.Handle("GET /api/v1/service-accounts/{id}/tokens", a.authed(a.listUserTokens))
	mux.Handle("POST /api/v1/service-accounts/{id}/tokens", a.authed(a.createServiceAccountToken))
	mux.Handle("GET /api/v1/audit", a.authed(a.listAudit))
	mux.Handle("GET /api/v1/audit/{id}", a.authed(a.getAudit))
	mux.Handle("GET /api/v1/audit/export", a.authed(a.exportAudit))
	mux.Handle("GET /api/v1/audit/checkpoints", a.authed(a.listCheckpoints))
	mux.Handle("GET /api/v1/audit/checkpoints/key", a.authed(a.checkpointKey))

	a.ssoRoutes(mux)

	mux.Handle("GET /api/v1/connectors", a.authed(a.listConnectors))
	mux.Handle("POST /api/v1/connectors", a.authed(a.createConnector))
	mux.Handle("GET /api/v1/connectors/{id}", a.authed(a.getConnector))
	mux.Handle("PATCH /api/v1/connectors/{id}", a.authed(a.updateConnector))
	mux.Handle("DELETE /api/v1/connectors/{id}", a.authed(a.deleteConnector))
	mux.Handle("POST /api/v1/connectors/{id}/test", a.authed(a.testConnector))
	mux.Handle("POST /api/v1/connectors/{id}/sync", a.authed(a.syncConnector))

	mux.Handle("GET /api/v1/assets", a.authed(a.listAssets))
	mux.Handle("GET /api/v1/assets/{id}", a.authed(a.getAsset))
	mux.Handle("POST /api/v1/assets/{id}/revoke", a.authed(a.revokeAsset))
	mux.Handle("POST /api/v1/assets/{id}/sync", a.authed(a.syncAsset))
	mux.Handle("GET /api/v1/findings", a.authed(a.listFindings))
	mux.Handle("GET /api/v1/drift", a.authed(a.listDrift))
	mux.Handle("POST /api/v1/drift/{id}/acknowledge", a.authed(a.acknowledgeDrift))

	mux.Handle("GET /api/v1/change-requests", a.authed(a.listChanges))
	mux.Handle("POST /api/v1/change-requests", a.authed(a.createChange))
	mux.Handle("GET /api/v1/change-requests/{id}", a.authed(a.getChange))
	mux.Handle("PATCH /api/v1/change-requests/{id}", a.authed(a.updateChange))
	mux.Handle("POST /api/v1/change-requests/{id}/submit", a.authed(a.submitChange))
	mux.Handle("POST /api/v1/change-requests/{id}/approve", a.authed(a.approveChange))
	mux.Handle("POST /api/v1/change-requests/{id}/reject", a.authed(a.rejectChange))
	mux.Handle("POST /api/v1/change-requests/{id}/cancel", a.authed(a.cancelChange))
	mux.Handle("POST /api/v1/change-requests/{id}/execute", a.authed(a.executeChange))
	mux.Handle("POST /api/v1/change-requests/{id}/resume", a.authed(a.resumeChange))
	mux.Handle("POST /api/v1/change-requests/{id}/review", a.authed(a.reviewChange))
	mux.Handle("POST /api/v1/change-requests/{id}/operations/{op}/reveal", a.authed(a.revealSecret))

	mux.Handle("POST /api/v1/agents/enrollment-tokens", a.authed(a.createEnrollmentToken))
	mux.Handle("GET /api/v1/agents", a.authed(a.listAgents))
	mux.Handle("GET /api/v1/agents/{id}", a.authed(a.getAgent))
	mux.Handle("POST /api/v1/agents/{id}/revoke", a.authed(a.revokeAgent))
	return noStore(muxErrorsAsJSON(mux))
}

func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteError(w, r, a.log, err)
}

type actorKey struct{}

func actorFrom(ctx context.Context) app.Actor {
	act, _ := ctx.Value(actorKey{}).(app.Actor)
	return act
}

// authed requires a valid bearer token: a JWT whose user is active and whose
// session version is current, or an API token (nxp_…) that is active and
// whose owner is enabled. The handler gets the actor from the context.
func (a *api) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		act, err := a.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nexplane"`)
			a.fail(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, act)))
	})
}

func (a *api) authenticate(r *http.Request) (app.Actor, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return app.Actor{}, app.Errorf(app.EUNAUTHORIZED, "missing bearer token")
	}
	if strings.HasPrefix(token, app.TokenPrefix) {
		// A personal access token or a service account's token.
		return a.svc.AuthenticateAPIToken(r.Context(), token,
			app.TokenUse{ClientAddr: httpx.ClientAddr(r), UserAgent: r.UserAgent()})
	}
	claims, err := a.tokens.Verify(token)
	if err != nil {
		return app.Actor{}, app.Errorf(app.EUNAUTHORIZED, "invalid or expired token")
	}
	return a.svc.ResolveToken(r.Context(), claims.UserID, claims.SessionVersion)
}

func (a *api) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := a.tokens.JWKS()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

func (a *api) me(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	out := map[string]any{"id": act.ID, "email": act.Email, "role": act.Role}
	if act.TokenID != 0 { // the API token the request came with
		out["token"] = map[string]any{"id": act.TokenID, "name": act.TokenName}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// rfc3339 formats times the one way the API writes them: UTC, RFC 3339, ms.
func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// noStore: API responses carry credentials or audit data; never cache them.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			httpx.NoStore(w)
		}
		next.ServeHTTP(w, r)
	})
}
