package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

// tokenJSON is a token as the API shows it: never its secret or hash.
type tokenJSON struct {
	ID                int64    `json:"id"`
	UserID            int64    `json:"user_id"`
	Name              string   `json:"name"`
	Role              app.Role `json:"role"`
	Status            string   `json:"status"`
	CreatedAt         string   `json:"created_at"`
	ExpiresAt         string   `json:"expires_at"`
	LastUsedAt        *string  `json:"last_used_at"`
	LastUsedIP        string   `json:"last_used_ip"`
	LastUsedUserAgent string   `json:"last_used_user_agent"`
	RevokedAt         *string  `json:"revoked_at"`
	CreatedBy         int64    `json:"created_by"`
}

// createdTokenJSON adds the secret, shown in this one response only.
type createdTokenJSON struct {
	tokenJSON
	Token string `json:"token"`
}

func (a *api) toTokenJSON(t *app.APIToken) tokenJSON {
	return tokenJSON{ID: t.ID, UserID: t.UserID, Name: t.Name, Role: t.Role, Status: t.Status(a.svc.Now()),
		CreatedAt: rfc3339(t.CreatedAt), ExpiresAt: rfc3339(t.ExpiresAt), LastUsedAt: optTime(t.LastUsedAt),
		LastUsedIP: t.LastUsedIP, LastUsedUserAgent: t.LastUsedUserAgent, RevokedAt: optTime(t.RevokedAt),
		CreatedBy: t.CreatedBy}
}

type createTokenRequest struct {
	Name      string `json:"name"`
	ExpiresAt string `json:"expires_at"`
	Role      string `json:"role"`
}

func (req createTokenRequest) input() (app.NewAPIToken, error) {
	in := app.NewAPIToken{Name: req.Name, Role: req.Role}
	if req.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil {
			return in, app.Errorf(app.EINVALID, "expires_at must be an RFC 3339 time, e.g. 2026-03-01T00:00:00Z")
		}
		in.ExpiresAt = t
	}
	return in, nil
}

func (a *api) writeCreatedToken(w http.ResponseWriter, c *app.CreatedAPIToken) {
	httpx.WriteJSON(w, http.StatusCreated, createdTokenJSON{tokenJSON: a.toTokenJSON(c.Token), Token: c.Secret})
}

// createToken: POST /api/v1/tokens, a personal access token.
func (a *api) createToken(w http.ResponseWriter, r *http.Request) {
	var req createTokenRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	in, err := req.input()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.svc.CreateAPIToken(r.Context(), actorFrom(r.Context()), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeCreatedToken(w, c)
}

func (a *api) writeTokens(w http.ResponseWriter, r *http.Request, ownerID int64) {
	ts, err := a.svc.ListAPITokens(r.Context(), actorFrom(r.Context()), ownerID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]tokenJSON, 0, len(ts))
	for i := range ts {
		out = append(out, a.toTokenJSON(&ts[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// listTokens: GET /api/v1/tokens, the caller's own tokens.
func (a *api) listTokens(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(actorFrom(r.Context()).ID, 10, 64)
	if err != nil {
		a.fail(w, r, app.Errorf(app.EFORBIDDEN, "only users hold API tokens"))
		return
	}
	a.writeTokens(w, r, id)
}

// listUserTokens: GET /api/v1/users/{id}/tokens (and the same under
// service-accounts): admins, or the user themselves.
func (a *api) listUserTokens(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeTokens(w, r, id)
}

// revokeToken: DELETE /api/v1/tokens/{id}: one's own, or any for admins.
func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if _, err := a.svc.RevokeAPIToken(r.Context(), actorFrom(r.Context()), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type serviceAccountJSON struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	Role      app.Role `json:"role"`
	Disabled  bool     `json:"disabled"`
	CreatedAt string   `json:"created_at"`
}

func toServiceAccountJSON(u *app.User) serviceAccountJSON {
	return serviceAccountJSON{ID: u.ID, Name: u.Email, Role: u.Role, Disabled: u.Disabled, CreatedAt: rfc3339(u.CreatedAt)}
}

type createServiceAccountRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// createServiceAccount: POST /api/v1/service-accounts (Admin only).
func (a *api) createServiceAccount(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionManageUsers); err != nil {
		a.fail(w, r, err)
		return
	}
	var req createServiceAccountRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.svc.CreateServiceAccount(r.Context(), act, app.NewServiceAccount{Name: req.Name, Role: req.Role})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toServiceAccountJSON(u))
}

// listServiceAccounts: GET /api/v1/service-accounts (Admin only).
func (a *api) listServiceAccounts(w http.ResponseWriter, r *http.Request) {
	us, err := a.svc.ListServiceAccounts(r.Context(), actorFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]serviceAccountJSON, 0, len(us))
	for i := range us {
		out = append(out, toServiceAccountJSON(&us[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"service_accounts": out})
}

// createServiceAccountToken: POST /api/v1/service-accounts/{id}/tokens.
func (a *api) createServiceAccountToken(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionManageUsers); err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req createTokenRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	in, err := req.input()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.svc.CreateServiceAccountToken(r.Context(), act, id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeCreatedToken(w, c)
}
