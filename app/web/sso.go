package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// The browser-binding cookie of a single sign-on in progress. It must be
// SameSite=Lax, not Strict: the provider sends the browser back with a
// cross-site top-level GET, which Lax cookies accompany.
const (
	ssoCookieSecure   = "__Host-nexplane_sso"
	ssoCookieInsecure = "nexplane_sso"
)

const idpPath = "/settings/identity-providers"

func (h *handler) ssoRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /login/sso/{id}", h.ssoBegin)
	mux.HandleFunc("GET /login/sso/{id}/callback", h.ssoCallback)
	mux.Handle("GET "+idpPath, h.authed(h.listIdentityProviders))
	mux.Handle("GET "+idpPath+"/new", h.authed(h.newIdentityProviderForm))
	mux.Handle("POST "+idpPath+"/new", h.authed(h.createIdentityProvider))
	mux.Handle("GET "+idpPath+"/{id}", h.authed(h.identityProviderDetail))
	mux.Handle("POST "+idpPath+"/{id}", h.authed(h.updateIdentityProvider))
	mux.Handle("POST "+idpPath+"/{id}/enabled", h.authed(h.setIdentityProviderEnabled))
	mux.Handle("POST "+idpPath+"/{id}/try", h.authed(h.tryIdentityProvider))
	mux.Handle("POST "+idpPath+"/{id}/delete", h.authed(h.deleteIdentityProvider))
	mux.Handle("POST /settings/local-login", h.authed(h.setLocalLogin))
	mux.Handle("POST /users/{id}/sign-in", h.authed(h.setUserSignIn))
}

func (h *handler) ssoCookieName() string {
	if h.sessions.secure {
		return ssoCookieSecure
	}
	return ssoCookieInsecure
}

func (h *handler) ssoCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: h.ssoCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		Secure: h.sessions.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// baseURL is the console's public URL, else (development) the request's.
func (h *handler) baseURL(r *http.Request) string {
	if h.publicURL != nil {
		return h.publicURL.Scheme + "://" + h.publicURL.Host
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ssoCallbackURL is the redirect URI admins register with the provider.
func (h *handler) ssoCallbackURL(r *http.Request, id string) string {
	return h.baseURL(r) + "/login/sso/" + id + "/callback"
}

// loginProviders are the login page's single sign-on buttons; a failure
// to list them leaves the password form usable.
func (h *handler) loginProviders(r *http.Request) []views.LoginProvider {
	cs, err := h.svc.LoginChoices(r.Context())
	if err != nil {
		h.log.WarnContext(r.Context(), "list sign-in providers", "err", err)
		return nil
	}
	var out []views.LoginProvider
	for _, c := range cs {
		id := strconv.FormatInt(c.ID, 10)
		out = append(out, views.LoginProvider{Name: c.Name, Action: "/login/sso/" + id, TestID: "sso-login-" + id,
			Password: !c.Redirect})
	}
	return out
}

func (h *handler) ssoLoginFailed(w http.ResponseWriter, r *http.Request, err error) {
	code := app.ErrCode(err)
	if code != app.EUNAUTHORIZED && code != app.EFORBIDDEN && code != app.ENOTFOUND && code != app.EINVALID {
		h.log.ErrorContext(r.Context(), "single sign-on failed", "request_id", httpx.RequestID(r.Context()), "err", err)
	}
	h.render(w, r, httpx.Status(code), views.LoginPage(views.Page{Title: "Log in"},
		views.LoginForm{Error: app.ErrMessage(err), Providers: h.loginProviders(r)}))
}

// ssoBegin sends the browser to the provider, bound to it by a cookie; a
// posted username is a directory (LDAP/AD) login, checked at once.
func (h *handler) ssoBegin(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, nil, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	if r.PostForm.Has("username") {
		h.ssoPasswordLogin(w, r, id)
		return
	}
	b, err := h.svc.BeginSSOLogin(r.Context(), app.SSOBeginInput{ProviderID: id, CallbackURL: h.ssoCallbackURL(r, r.PathValue("id"))})
	if err != nil {
		h.ssoLoginFailed(w, r, err)
		return
	}
	h.sendToProvider(w, r, b)
}

// sendToProvider binds the login to this browser and sends it to the
// provider through ContinueToProvider (see there why not a redirect).
func (h *handler) sendToProvider(w http.ResponseWriter, r *http.Request, b *app.SSOBegin) {
	http.SetCookie(w, h.ssoCookie(b.BrowserToken, int(app.SSOLoginTTL.Seconds())))
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, http.StatusOK, views.ContinueToProvider(b.ProviderName, b.RedirectURL))
}

// ssoCallback finishes a login (or an admin's dry run) when the provider
// sends the browser back.
func (h *handler) ssoCallback(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	browser := ""
	if c, err := r.Cookie(h.ssoCookieName()); err == nil {
		browser = c.Value
	}
	http.SetCookie(w, h.ssoCookie("", -1))
	old, oldErr := h.current(r)
	if oldErr != nil {
		old = nil
	}
	in := app.SSOCallbackInput{ProviderID: id, CallbackURL: h.ssoCallbackURL(r, r.PathValue("id")), BrowserToken: browser,
		Params: r.URL.Query(), ClientAddr: httpx.ClientAddr(r), UserAgent: r.UserAgent()}
	if old != nil {
		in.Actor = &old.actor
	}
	res, err := h.svc.FinishSSOLogin(r.Context(), in)
	if err != nil {
		h.ssoLoginFailed(w, r, err)
		return
	}
	if res.DryRun != nil {
		h.renderTryLogin(w, r, old, res.DryRun)
		return
	}
	h.completeSSOLogin(w, r, res.Login, old, "")
}

// completeSSOLogin sends a signed-in browser on: to the second step when
// the login needs one, else into a new session (ending old, the session the
// browser had before) and on to next.
func (h *handler) completeSSOLogin(w http.ResponseWriter, r *http.Request, res *app.LoginResult, old *sessionUser, next string) {
	if res.MFAToken != "" {
		if err := h.setMFACookie(w, res.MFAToken); err != nil {
			h.renderError(w, r, nil, err)
			return
		}
		redirect(w, r, mfaLoginTarget(next))
		return
	}
	if old != nil {
		if err := h.svc.Logout(r.Context(), old.actor, old.sess.ID); err != nil {
			h.log.WarnContext(r.Context(), "end previous session at login", "err", err)
		}
	}
	if err := h.sessions.startSession(r, w, res.SessionToken); err != nil {
		h.renderError(w, r, nil, err)
		return
	}
	redirect(w, r, cmp.Or(next, "/"))
}

// ssoPasswordLogin checks a username and password with a directory
// provider; a refusal shows the login page again with the username kept.
func (h *handler) ssoPasswordLogin(w http.ResponseWriter, r *http.Request, id int64) {
	username := r.PostForm.Get("username")
	next := localTarget(r.PostForm.Get("next"))
	old, oldErr := h.current(r)
	if oldErr != nil {
		old = nil
	}
	res, err := h.svc.SSOPasswordLogin(r.Context(), app.SSOPasswordInput{ProviderID: id, Username: username,
		Password: r.PostForm.Get("password"), ClientAddr: httpx.ClientAddr(r), UserAgent: r.UserAgent()})
	if err != nil {
		code := app.ErrCode(err)
		if code != app.EUNAUTHORIZED && code != app.EFORBIDDEN && code != app.ENOTFOUND && code != app.EINVALID && code != app.ERATELIMITED {
			h.log.ErrorContext(r.Context(), "directory sign-in failed", "request_id", httpx.RequestID(r.Context()), "err", err)
		}
		httpx.RetryAfter(w, err)
		providers := h.loginProviders(r)
		for i := range providers {
			if providers[i].Action == "/login/sso/"+strconv.FormatInt(id, 10) {
				providers[i].Username = username
			}
		}
		h.render(w, r, httpx.Status(code), views.LoginPage(views.Page{Title: "Log in"},
			views.LoginForm{Next: next, Error: errMessage(err), Providers: providers}))
		return
	}
	h.completeSSOLogin(w, r, res, old, next)
}

func (h *handler) renderTryLogin(w http.ResponseWriter, r *http.Request, a *sessionUser, d *app.SSODryRun) {
	claims, err := json.MarshalIndent(d.Identity.Claims, "", "  ")
	if err != nil {
		claims = []byte("(claims not readable)")
	}
	v := views.TryLoginView{ProviderName: d.ProviderName, DetailURL: idpPath + "/" + strconv.FormatInt(d.ProviderID, 10),
		Subject: d.Identity.Subject, Email: d.Identity.Email, Name: d.Identity.Name, Groups: d.Identity.Groups,
		Claims: string(claims), Role: cmp.Or(string(d.Role), "none"), Outcome: d.Outcome, Refusal: d.Refusal,
		LinkedUser: d.LinkedUser, Rule: "none (default role)"}
	if d.Rule > 0 {
		v.Rule = strconv.Itoa(d.Rule)
	} else if d.Role == "" {
		v.Rule = "none"
	}
	h.render(w, r, http.StatusOK, views.TryLoginPage(h.page(a, "Try login", views.NavSettings, ""), v))
}

func (h *handler) listIdentityProviders(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	ps, err := h.svc.ListIdentityProviders(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	off, err := h.svc.LocalLoginDisabled(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.IdentityProvidersView{LocalLoginDisabled: off, CallbackPattern: h.ssoCallbackURL(r, "{id}")}
	for _, p := range ps {
		id := strconv.FormatInt(p.ID, 10)
		v.Rows = append(v.Rows, views.IdentityProviderRow{ID: id, Name: p.Name, Type: p.Type, Enabled: p.Enabled,
			Rules: rulesSummary(p), DetailURL: idpPath + "/" + id})
	}
	for _, t := range h.svc.Registry().IdentityProviderTypes() {
		v.Types = append(v.Types, views.Option{Value: t, Label: h.idpSpec(t).Label})
	}
	h.render(w, r, http.StatusOK, views.IdentityProvidersPage(h.page(a, "Identity providers", views.NavSettings, h.popFlash(w, r, a)), v))
}

func rulesSummary(p app.IdentityProvider) string {
	s := fmt.Sprintf("%d rule(s)", len(p.Rules))
	if p.DefaultRole == "" {
		return s + ", others refused"
	}
	return s + ", others " + string(p.DefaultRole)
}

func (h *handler) idpSpec(typ string) app.ConfigSpec {
	t, err := h.svc.Registry().IdentityProviderType(typ)
	if err != nil {
		return app.ConfigSpec{}
	}
	return t.ConfigSpec()
}

// rulesText shows rules one "group=role" a line.
func rulesText(rules []app.RoleRule) string {
	lines := make([]string, 0, len(rules))
	for _, r := range rules {
		lines = append(lines, r.Group+"="+string(r.Role))
	}
	return strings.Join(lines, "\n")
}

// parseRules reads "group=role" lines; app checks groups and roles. The
// last "=" splits, so a group name may contain one.
func parseRules(text string) ([]app.RoleRule, error) {
	var out []app.RoleRule
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k := strings.LastIndexByte(line, '=')
		if k < 0 {
			return nil, app.Errorf(app.EINVALID, "rule line %d: write group=role", i+1)
		}
		out = append(out, app.RoleRule{Group: strings.TrimSpace(line[:k]), Role: app.Role(strings.TrimSpace(line[k+1:]))})
	}
	return out, nil
}

func defaultRoleOptions(selected app.Role) []views.Option {
	out := []views.Option{{Value: "", Label: "Refuse the login", Selected: selected == ""}}
	for _, r := range app.Roles {
		out = append(out, views.Option{Value: string(r), Label: "Sign in as " + string(r), Selected: r == selected})
	}
	return out
}

// idpForm is the form of a provider of spec's type showing values.
func idpForm(spec app.ConfigSpec, values map[string]string) views.IdentityProviderForm {
	return views.IdentityProviderForm{Fields: settingInputs("", spec.Config(), values), Secrets: settingInputs("", spec.Secrets(), nil)}
}

func (h *handler) newIdentityProviderForm(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if _, err := h.svc.ListIdentityProviders(r.Context(), a.actor); err != nil {
		h.renderError(w, r, a, err)
		return
	}
	typ := r.URL.Query().Get("type")
	if _, err := h.svc.Registry().IdentityProviderType(typ); err != nil {
		h.renderError(w, r, a, err)
		return
	}
	spec := h.idpSpec(typ)
	f := idpForm(spec, defaultValues(spec))
	f.Action, f.Type, f.DefaultRole = idpPath+"/new", typ, defaultRoleOptions("")
	h.render(w, r, http.StatusOK, views.NewIdentityProviderPage(h.page(a, "New identity provider", views.NavSettings, ""), f))
}

// postedProvider reads the create/edit form.
type postedProvider struct {
	name, rules string
	defaultRole app.Role
	mfa         bool
	config      json.RawMessage
	secrets     json.RawMessage
	parsedRules []app.RoleRule
}

func readProviderForm(spec app.ConfigSpec, r *http.Request) (postedProvider, error) {
	form := r.PostForm
	p := postedProvider{name: strings.TrimSpace(form.Get("name")), rules: form.Get("rules"),
		defaultRole: app.Role(form.Get("default_role")), mfa: form.Get("mfa_delegated") == "true"}
	var err error
	if p.config, err = configJSON("", spec, form); err != nil {
		return p, err
	}
	if p.secrets, err = settingsJSON("", spec.Secrets(), form); err != nil {
		return p, err
	}
	p.parsedRules, err = parseRules(p.rules)
	return p, err
}

// refilled is the form after an error: what was entered, never secrets.
func refilled(spec app.ConfigSpec, r *http.Request, p postedProvider, msg string) views.IdentityProviderForm {
	f := idpForm(spec, enteredValues("", spec, r.PostForm))
	f.Name, f.Rules, f.DefaultRole, f.MFADelegated, f.Error = r.PostForm.Get("name"), p.rules, defaultRoleOptions(p.defaultRole), p.mfa, msg
	return f
}

func (h *handler) createIdentityProvider(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	typ := r.PostForm.Get("type")
	spec := h.idpSpec(typ)
	p, err := readProviderForm(spec, r)
	var created *app.IdentityProvider
	if err == nil {
		created, err = h.svc.CreateIdentityProvider(r.Context(), a.actor, app.IdentityProviderInput{Name: p.name, Type: typ,
			Config: p.config, Secrets: p.secrets, Rules: p.parsedRules, DefaultRole: p.defaultRole, MFADelegated: p.mfa})
	}
	clear(p.secrets)
	if err != nil {
		code := app.ErrCode(err)
		if code != app.EINVALID && code != app.ECONFLICT {
			h.renderError(w, r, a, err)
			return
		}
		f := refilled(spec, r, p, errMessage(err))
		f.Action, f.Type = idpPath+"/new", typ
		h.render(w, r, httpx.Status(code), views.NewIdentityProviderPage(h.page(a, "New identity provider", views.NavSettings, ""), f))
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Identity provider %s created.", created.Name))
	redirect(w, r, idpPath+"/"+strconv.FormatInt(created.ID, 10))
}

func (h *handler) identityProviderDetailView(r *http.Request, p *app.IdentityProvider, form *views.IdentityProviderForm) views.IdentityProviderDetailView {
	id := strconv.FormatInt(p.ID, 10)
	spec := h.idpSpec(p.Type)
	var f views.IdentityProviderForm
	if form != nil {
		f = *form
	} else {
		f = idpForm(spec, storedValues(p.Config))
		f.Name, f.Rules, f.DefaultRole, f.MFADelegated = p.Name, rulesText(p.Rules), defaultRoleOptions(p.DefaultRole), p.MFADelegated
	}
	f.ID, f.Action, f.Type, f.SecretsSet = id, idpPath+"/"+id, p.Type, p.SealedSecrets != nil
	if f.SecretsSet {
		f.SecretsAt = formatTime(p.SecretsUpdatedAt)
	}
	return views.IdentityProviderDetailView{ID: id, Name: p.Name, Type: p.Type, Enabled: p.Enabled,
		CallbackURL: h.ssoCallbackURL(r, id), Form: f, EnableURL: idpPath + "/" + id + "/enabled",
		TryURL: idpPath + "/" + id + "/try", DeleteURL: idpPath + "/" + id + "/delete"}
}

func (h *handler) identityProviderDetail(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "identity provider")
	if !ok {
		return
	}
	p, err := h.svc.GetIdentityProvider(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	h.render(w, r, http.StatusOK, views.IdentityProviderDetailPage(h.page(a, "Identity provider "+p.Name, views.NavSettings,
		h.popFlash(w, r, a)), h.identityProviderDetailView(r, p, nil)))
}

func (h *handler) updateIdentityProvider(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "identity provider")
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	cur, err := h.svc.GetIdentityProvider(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	spec := h.idpSpec(cur.Type)
	p, err := readProviderForm(spec, r)
	var saved *app.IdentityProvider
	if err == nil {
		saved, err = h.svc.UpdateIdentityProvider(r.Context(), a.actor, id, app.IdentityProviderPatch{Name: &p.name,
			Config: p.config, Secrets: p.secrets, Rules: &p.parsedRules, DefaultRole: &p.defaultRole, MFADelegated: &p.mfa})
	}
	clear(p.secrets)
	if err != nil {
		code := app.ErrCode(err)
		if code != app.EINVALID && code != app.ECONFLICT && code != app.ECREDENTIALS {
			h.renderError(w, r, a, err)
			return
		}
		f := refilled(spec, r, p, errMessage(err))
		h.render(w, r, httpx.Status(code), views.IdentityProviderDetailPage(h.page(a, "Identity provider "+cur.Name, views.NavSettings, ""),
			h.identityProviderDetailView(r, cur, &f)))
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Identity provider %s saved.", saved.Name))
	redirect(w, r, idpPath+"/"+strconv.FormatInt(id, 10))
}

func (h *handler) setIdentityProviderEnabled(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "identity provider")
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	enabled := r.PostForm.Get("enabled") == "true"
	p, err := h.svc.UpdateIdentityProvider(r.Context(), a.actor, id, app.IdentityProviderPatch{Enabled: &enabled})
	if err != nil {
		h.refuse(w, r, a, idpPath+"/"+strconv.FormatInt(id, 10), err, nil)
		return
	}
	state := "disabled"
	if p.Enabled {
		state = "enabled"
	}
	h.addFlash(w, r, a, fmt.Sprintf("Identity provider %s %s.", p.Name, state))
	redirect(w, r, idpPath+"/"+strconv.FormatInt(id, 10))
}

// tryIdentityProvider starts the admin's dry run; the callback shows it.
func (h *handler) tryIdentityProvider(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "identity provider")
	if !ok {
		return
	}
	b, err := h.svc.TryIdentityProvider(r.Context(), a.actor, app.SSOBeginInput{ProviderID: id,
		CallbackURL: h.ssoCallbackURL(r, strconv.FormatInt(id, 10))})
	if err != nil {
		h.refuse(w, r, a, idpPath+"/"+strconv.FormatInt(id, 10), err, nil)
		return
	}
	h.sendToProvider(w, r, b)
}

func (h *handler) deleteIdentityProvider(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "identity provider")
	if !ok {
		return
	}
	if err := h.svc.DeleteIdentityProvider(r.Context(), a.actor, id); err != nil {
		h.refuse(w, r, a, idpPath+"/"+strconv.FormatInt(id, 10), err, nil)
		return
	}
	h.addFlash(w, r, a, "Identity provider deleted.")
	redirect(w, r, idpPath)
}

func (h *handler) setLocalLogin(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	off := r.PostForm.Get("disabled") == "true"
	if err := h.svc.SetLocalLoginDisabled(r.Context(), a.actor, off); err != nil {
		h.refuse(w, r, a, idpPath, err, nil)
		return
	}
	h.addFlash(w, r, a, "Password sign-in setting saved.")
	redirect(w, r, idpPath)
}

// userSignInView is the sign-in panel of a user's page.
func (h *handler) userSignInView(r *http.Request, a *sessionUser, userID int64) (views.UserSignInView, error) {
	si, err := h.svc.UserSignInOf(r.Context(), a.actor, userID)
	if err != nil {
		return views.UserSignInView{}, err
	}
	v := views.UserSignInView{Action: "/users/" + strconv.FormatInt(userID, 10) + "/sign-in",
		LocalLoginDisabled: si.LocalLoginDisabled, LocalPasswordAllowed: si.LocalPasswordAllowed,
		PasswordPossible: si.LocalPasswordPossible()}
	if si.SSO() {
		v.Subject, v.Provider = si.Subject, "provider "+strconv.FormatInt(si.ProviderID, 10)
		// Only admins see users' pages, and they may read providers.
		if p, err := h.svc.GetIdentityProvider(r.Context(), a.actor, si.ProviderID); err == nil {
			v.Provider = p.Name
		}
	}
	return v, nil
}

func (h *handler) setUserSignIn(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "user")
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	si, err := h.svc.UserSignInOf(r.Context(), a.actor, id)
	if err != nil {
		h.refuse(w, r, a, "/users/"+strconv.FormatInt(id, 10), err, nil)
		return
	}
	off := r.PostForm.Get("local_login_disabled") == "true"
	patch := app.SignInPatch{LocalLoginDisabled: &off}
	if si.SSO() {
		allowed := r.PostForm.Get("local_password_allowed") == "true"
		patch.LocalPasswordAllowed = &allowed
	}
	if _, err := h.svc.UpdateUserSignIn(r.Context(), a.actor, id, patch); err != nil {
		h.refuse(w, r, a, "/users/"+strconv.FormatInt(id, 10), err, nil)
		return
	}
	h.addFlash(w, r, a, "Sign-in settings saved.")
	redirect(w, r, "/users/"+strconv.FormatInt(id, 10))
}
