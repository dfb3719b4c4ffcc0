package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// tokenRoutes: one's own API tokens under /account/tokens, any user's or
// service account's under /users/{id}/tokens (app lets admins and the
// owner in), and the service accounts page.
func (h *handler) tokenRoutes(mux *http.ServeMux) {
	mux.Handle("GET /account/tokens", h.authed(h.ownTokens))
	mux.Handle("POST /account/tokens", h.authed(h.createOwnToken))
	mux.Handle("POST /account/tokens/{tid}/revoke", h.authed(h.revokeOwnToken))
	mux.Handle("GET /users/{id}/tokens", h.authed(h.userTokens))
	mux.Handle("POST /users/{id}/tokens", h.authed(h.createServiceAccountToken))
	mux.Handle("POST /users/{id}/tokens/{tid}/revoke", h.authed(h.revokeUserToken))
	mux.Handle("GET /service-accounts", h.authed(h.listServiceAccounts))
	mux.Handle("POST /service-accounts", h.authed(h.createServiceAccount))
}

// dateLayout is the value format of a date input.
const dateLayout = "2006-01-02"

// tokenForm is an empty create form offering the roles under ceiling.
func (h *handler) tokenForm(ceiling app.Role) views.TokenForm {
	f := views.TokenForm{Role: string(ceiling), MaxExpires: h.now().UTC().Add(app.MaxTokenLifetime).Format(dateLayout)}
	for _, r := range app.TokenRoles(ceiling) {
		f.Roles = append(f.Roles, string(r))
	}
	return f
}

// tokenInput reads the create form: the expiry is a date, the token ending
// at 00:00 UTC that day; empty means the default.
func tokenInput(r *http.Request) (app.NewAPIToken, views.TokenForm, error) {
	f := views.TokenForm{Name: r.PostForm.Get("name"), Expires: r.PostForm.Get("expires"), Role: r.PostForm.Get("role")}
	in := app.NewAPIToken{Name: f.Name, Role: f.Role}
	if f.Expires != "" {
		d, err := time.Parse(dateLayout, f.Expires)
		if err != nil {
			return in, f, app.Errorf(app.EINVALID, "the expiry date must look like 2026-03-01")
		}
		in.ExpiresAt = d
	}
	return in, f, nil
}

// tokensPage is what a tokens page shows besides its rows.
type tokensPage struct {
	ownerID   int64
	basePath  string
	nav       string
	status    int
	form      *views.TokenForm // nil: a fresh form
	flash     string
	ownerPage bool // /account/tokens
}

// renderTokens loads the owner and their tokens and renders the page.
func (h *handler) renderTokens(w http.ResponseWriter, r *http.Request, a *sessionUser, p tokensPage) {
	ctx := r.Context()
	ts, err := h.svc.ListAPITokens(ctx, a.actor, p.ownerID)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	owner := views.TokensView{BasePath: p.basePath}
	var ceiling app.Role
	if p.ownerPage {
		owner.Heading, owner.Owner = "API tokens", a.actor.Email
		owner.CanCreate, ceiling = true, a.actor.Role
	} else {
		u, err := h.svc.GetUser(ctx, a.actor, p.ownerID)
		if err != nil {
			h.renderError(w, r, a, err)
			return
		}
		owner.Owner, owner.IsServiceAccount = u.Email, u.Kind == app.KindService
		owner.Heading = "API tokens of " + u.Email
		if owner.IsServiceAccount {
			owner.Heading = "Service account " + u.Email
			// Only admins get this far (GetUser); they make its tokens.
			owner.CanCreate, ceiling = !u.Disabled, u.Role
		}
	}
	if owner.CanCreate {
		f := h.tokenForm(ceiling)
		if p.form != nil {
			f.Name, f.Expires, f.Error = p.form.Name, p.form.Expires, p.form.Error
			if p.form.Role != "" {
				f.Role = p.form.Role
			}
		}
		owner.Create = f
	}
	now := h.now()
	for _, t := range ts {
		row := views.TokenRow{ID: strconv.FormatInt(t.ID, 10), Name: t.Name, Role: string(t.Role), Status: t.Status(now),
			Created: formatTime(t.CreatedAt), Expires: formatTime(t.ExpiresAt),
			LastUsedIP: t.LastUsedIP, LastUsedAgent: t.LastUsedUserAgent}
		if !t.LastUsedAt.IsZero() {
			row.LastUsed = formatTime(t.LastUsedAt)
		}
		row.CanRevoke = t.RevokedAt.IsZero() && row.Status == "active"
		owner.Rows = append(owner.Rows, row)
	}
	status := p.status
	if status == 0 {
		status = http.StatusOK
	}
	h.render(w, r, status, views.TokensPage(h.page(a, owner.Heading, p.nav, p.flash), owner))
}

func (h *handler) ownTokens(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.ownID(w, r, a)
	if !ok {
		return
	}
	h.renderTokens(w, r, a, tokensPage{ownerID: id, basePath: "/account/tokens", nav: views.NavTokens,
		ownerPage: true, flash: h.popFlash(w, r, a)})
}

func (h *handler) ownID(w http.ResponseWriter, r *http.Request, a *sessionUser) (int64, bool) {
	id, err := strconv.ParseInt(a.actor.ID, 10, 64)
	if err != nil {
		h.renderError(w, r, a, app.Errorf(app.EFORBIDDEN, "only users hold API tokens"))
		return 0, false
	}
	return id, true
}

// createOwnToken creates a personal access token and sends the browser to
// the one-time page that shows its secret.
func (h *handler) createOwnToken(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.ownID(w, r, a)
	if !ok {
		return
	}
	p := tokensPage{ownerID: id, basePath: "/account/tokens", nav: views.NavTokens, ownerPage: true}
	h.createTokenWith(w, r, a, p, func(in app.NewAPIToken) (*app.CreatedAPIToken, error) {
		return h.svc.CreateAPIToken(r.Context(), a.actor, in)
	})
}

func (h *handler) createTokenWith(w http.ResponseWriter, r *http.Request, a *sessionUser, p tokensPage,
	create func(app.NewAPIToken) (*app.CreatedAPIToken, error)) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, a, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	in, form, err := tokenInput(r)
	var c *app.CreatedAPIToken
	if err == nil {
		c, err = create(in)
	}
	if err != nil {
		switch code := app.ErrCode(err); code {
		case app.EINVALID, app.EFORBIDDEN, app.ECONFLICT:
			form.Error = errMessage(err)
			p.form, p.status = &form, httpx.Status(code)
			h.renderTokens(w, r, a, p)
		default:
			h.renderError(w, r, a, err)
		}
		return
	}
	h.showOnce(w, r, a, app.OneTimeSecret{Kind: app.RevealAPIToken, Title: "API token " + c.Token.Name, Secret: c.Secret,
		Facts: []app.RevealFact{{Label: "Name", Value: c.Token.Name}, {Label: "Role", Value: string(c.Token.Role)},
			{Label: "Expires", Value: formatTime(c.Token.ExpiresAt)},
			{Label: "Use", Value: "Authorization: Bearer <token> on the API under /api/v1."}},
		Back: p.basePath})
}

func (h *handler) revokeOwnToken(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	h.revokeToken(w, r, a, "/account/tokens")
}

// revokeToken ends one token (app checks it is the actor's, or that the
// actor is an admin) and goes back to back.
func (h *handler) revokeToken(w http.ResponseWriter, r *http.Request, a *sessionUser, back string) {
	tid, err := strconv.ParseInt(r.PathValue("tid"), 10, 64)
	if err != nil || tid <= 0 {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such token.")
		return
	}
	t, err := h.svc.RevokeAPIToken(r.Context(), a.actor, tid)
	if err != nil {
		h.refuseListed(w, r, a, back, err)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Token %s ended: it is refused from the next request on.", t.Name))
	redirect(w, r, back)
}

func pathUserID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// userTokens: an admin's view of a user's or service account's tokens.
func (h *handler) userTokens(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := pathUserID(r)
	if !ok {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such user.")
		return
	}
	h.renderTokens(w, r, a, tokensPage{ownerID: id, basePath: "/users/" + strconv.FormatInt(id, 10) + "/tokens",
		nav: views.NavUsers, flash: h.popFlash(w, r, a)})
}

func (h *handler) createServiceAccountToken(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := pathUserID(r)
	if !ok {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such service account.")
		return
	}
	if err := h.svc.ListActions(a.actor).Err(app.ActionManageUsers); err != nil {
		h.renderError(w, r, a, err)
		return
	}
	p := tokensPage{ownerID: id, basePath: "/users/" + strconv.FormatInt(id, 10) + "/tokens", nav: views.NavUsers}
	h.createTokenWith(w, r, a, p, func(in app.NewAPIToken) (*app.CreatedAPIToken, error) {
		return h.svc.CreateServiceAccountToken(r.Context(), a.actor, id, in)
	})
}

func (h *handler) revokeUserToken(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := pathUserID(r)
	if !ok {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such user.")
		return
	}
	h.revokeToken(w, r, a, "/users/"+strconv.FormatInt(id, 10)+"/tokens")
}

func (h *handler) listServiceAccounts(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	h.renderServiceAccounts(w, r, a, http.StatusOK, views.ServiceAccountForm{Role: string(app.RoleOperator)}, h.popFlash(w, r, a))
}

func (h *handler) renderServiceAccounts(w http.ResponseWriter, r *http.Request, a *sessionUser, status int, form views.ServiceAccountForm, flash string) {
	us, err := h.svc.ListServiceAccounts(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.ServiceAccountsView{Roles: roleNames(), Create: form}
	for _, u := range us {
		v.Rows = append(v.Rows, views.ServiceAccountRow{ID: strconv.FormatInt(u.ID, 10), Name: u.Email, Role: string(u.Role),
			Disabled: u.Disabled, Created: formatTime(u.CreatedAt)})
	}
	h.render(w, r, status, views.ServiceAccountsPage(h.page(a, "Service accounts", views.NavServiceAccounts, flash), v))
}

func (h *handler) createServiceAccount(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, a, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	in := app.NewServiceAccount{Name: r.PostForm.Get("name"), Role: r.PostForm.Get("role")}
	u, err := h.svc.CreateServiceAccount(r.Context(), a.actor, in)
	if err != nil {
		switch code := app.ErrCode(err); code {
		case app.EINVALID, app.ECONFLICT:
			h.renderServiceAccounts(w, r, a, httpx.Status(code),
				views.ServiceAccountForm{Name: in.Name, Role: in.Role, Error: errMessage(err)}, "")
		default:
			h.renderError(w, r, a, err)
		}
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Service account %s created with role %s. Create a token for it below.", u.Email, u.Role))
	redirect(w, r, "/users/"+strconv.FormatInt(u.ID, 10)+"/tokens")
}
