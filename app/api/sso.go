package api

import (
	"encoding/json"
	"net/http"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

func (a *api) ssoRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/identity-providers", a.authed(a.listIdentityProviders))
	mux.Handle("POST /api/v1/identity-providers", a.authed(a.createIdentityProvider))
	mux.Handle("GET /api/v1/identity-providers/{id}", a.authed(a.getIdentityProvider))
	mux.Handle("PATCH /api/v1/identity-providers/{id}", a.authed(a.updateIdentityProvider))
	mux.Handle("DELETE /api/v1/identity-providers/{id}", a.authed(a.deleteIdentityProvider))
	mux.Handle("GET /api/v1/settings/local-login", a.authed(a.getLocalLogin))
	mux.Handle("PUT /api/v1/settings/local-login", a.authed(a.putLocalLogin))
	mux.Handle("GET /api/v1/users/{id}/sign-in", a.authed(a.getUserSignIn))
	mux.Handle("PATCH /api/v1/users/{id}/sign-in", a.authed(a.patchUserSignIn))
}

// identityProviderJSON never carries secrets: only whether and when they
// were set.
type identityProviderJSON struct {
	ID               int64           `json:"id"`
	Name             string          `json:"name"`
	Type             string          `json:"type"`
	Enabled          bool            `json:"enabled"`
	Config           json.RawMessage `json:"config"`
	SecretsSet       bool            `json:"secrets_set"`
	SecretsUpdatedAt *string         `json:"secrets_updated_at"`
	Rules            []app.RoleRule  `json:"rules"`
	DefaultRole      string          `json:"default_role"`
	MFADelegated     bool            `json:"mfa_delegated"`
	Version          int64           `json:"version"`
	CreatedAt        string          `json:"created_at"`
	UpdatedAt        string          `json:"updated_at"`
}

func toIdentityProviderJSON(p *app.IdentityProvider) identityProviderJSON {
	out := identityProviderJSON{ID: p.ID, Name: p.Name, Type: p.Type, Enabled: p.Enabled, Config: p.Config,
		SecretsSet: p.SealedSecrets != nil, Rules: p.Rules, DefaultRole: string(p.DefaultRole), MFADelegated: p.MFADelegated,
		Version: p.Version, CreatedAt: rfc3339(p.CreatedAt), UpdatedAt: rfc3339(p.UpdatedAt)}
	if out.Rules == nil {
		out.Rules = []app.RoleRule{}
	}
	if !p.SecretsUpdatedAt.IsZero() {
		t := rfc3339(p.SecretsUpdatedAt)
		out.SecretsUpdatedAt = &t
	}
	return out
}

type identityProviderRequest struct {
	Name         *string         `json:"name"`
	Type         string          `json:"type"`
	Enabled      *bool           `json:"enabled"`
	Config       json.RawMessage `json:"config"`
	Secrets      json.RawMessage `json:"secrets"`
	Rules        *[]app.RoleRule `json:"rules"`
	DefaultRole  *string         `json:"default_role"`
	MFADelegated *bool           `json:"mfa_delegated"`
}

func (a *api) listIdentityProviders(w http.ResponseWriter, r *http.Request) {
	ps, err := a.svc.ListIdentityProviders(r.Context(), actorFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]identityProviderJSON, 0, len(ps))
	for i := range ps {
		out = append(out, toIdentityProviderJSON(&ps[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"identity_providers": out})
}

func (a *api) createIdentityProvider(w http.ResponseWriter, r *http.Request) {
	var req identityProviderRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	in := app.IdentityProviderInput{Type: req.Type, Enabled: req.Enabled, Config: req.Config, Secrets: req.Secrets}
	if req.Name != nil {
		in.Name = *req.Name
	}
	if req.Rules != nil {
		in.Rules = *req.Rules
	}
	if req.DefaultRole != nil {
		in.DefaultRole = app.Role(*req.DefaultRole)
	}
	if req.MFADelegated != nil {
		in.MFADelegated = *req.MFADelegated
	}
	p, err := a.svc.CreateIdentityProvider(r.Context(), actorFrom(r.Context()), in)
	clear(req.Secrets)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toIdentityProviderJSON(p))
}

func (a *api) getIdentityProvider(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.svc.GetIdentityProvider(r.Context(), actorFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toIdentityProviderJSON(p))
}

func (a *api) updateIdentityProvider(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req identityProviderRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Type != "" {
		a.fail(w, r, app.Errorf(app.EINVALID, "a provider's type cannot change; create a new provider"))
		return
	}
	patch := app.IdentityProviderPatch{Name: req.Name, Enabled: req.Enabled, Config: req.Config, Secrets: req.Secrets,
		Rules: req.Rules, MFADelegated: req.MFADelegated}
	if req.DefaultRole != nil {
		role := app.Role(*req.DefaultRole)
		patch.DefaultRole = &role
	}
	p, err := a.svc.UpdateIdentityProvider(r.Context(), actorFrom(r.Context()), id, patch)
	clear(req.Secrets)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toIdentityProviderJSON(p))
}

func (a *api) deleteIdentityProvider(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.svc.DeleteIdentityProvider(r.Context(), actorFrom(r.Context()), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type localLoginBody struct {
	Disabled *bool `json:"disabled"`
}

func (a *api) getLocalLogin(w http.ResponseWriter, r *http.Request) {
	off, err := a.svc.LocalLoginDisabled(r.Context(), actorFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, localLoginBody{Disabled: &off})
}

func (a *api) putLocalLogin(w http.ResponseWriter, r *http.Request) {
	var req localLoginBody
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Disabled == nil {
		a.fail(w, r, app.Errorf(app.EINVALID, "give disabled: true or false"))
		return
	}
	if err := a.svc.SetLocalLoginDisabled(r.Context(), actorFrom(r.Context()), *req.Disabled); err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, req)
}

type userSignInJSON struct {
	UserID               int64   `json:"user_id"`
	ProviderID           *int64  `json:"identity_provider_id"`
	Subject              *string `json:"subject"`
	LocalLoginDisabled   bool    `json:"local_login_disabled"`
	LocalPasswordAllowed bool    `json:"local_password_allowed"`
	LastSSOLoginAt       *string `json:"last_sso_login_at"`
}

func toUserSignInJSON(s *app.UserSignIn) userSignInJSON {
	out := userSignInJSON{UserID: s.UserID, LocalLoginDisabled: s.LocalLoginDisabled, LocalPasswordAllowed: s.LocalPasswordAllowed}
	if s.SSO() {
		out.ProviderID, out.Subject = &s.ProviderID, &s.Subject
	}
	if !s.LastSSOLoginAt.IsZero() {
		t := rfc3339(s.LastSSOLoginAt)
		out.LastSSOLoginAt = &t
	}
	return out
}

func (a *api) getUserSignIn(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.svc.UserSignInOf(r.Context(), actorFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toUserSignInJSON(s))
}

type userSignInPatch struct {
	LocalLoginDisabled   *bool `json:"local_login_disabled"`
	LocalPasswordAllowed *bool `json:"local_password_allowed"`
}

func (a *api) patchUserSignIn(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req userSignInPatch
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	s, err := a.svc.UpdateUserSignIn(r.Context(), actorFrom(r.Context()), id,
		app.SignInPatch{LocalLoginDisabled: req.LocalLoginDisabled, LocalPasswordAllowed: req.LocalPasswordAllowed})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toUserSignInJSON(s))
}
