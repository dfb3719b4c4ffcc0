package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gorilla/sessions"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// accountRoutes registers /account, the admin's user page and reveal, and
// the invitation and reset links.
func (h *handler) accountRoutes(mux *http.ServeMux) {
	mux.Handle("GET /account", h.authed(h.account))
	mux.Handle("POST /account/password", h.authed(h.changePassword))
	mux.Handle("POST /account/sessions/{handle}/end", h.authed(h.endOwnSession))

	mux.Handle("GET /users/{id}", h.authed(h.userDetail))
	mux.Handle("GET /users/{id}/link", h.authed(h.revealLink))
	mux.Handle("POST /users/{id}/reset-password", h.authed(h.sendResetLink))
	mux.Handle("POST /users/{id}/sessions/{handle}/end", h.authed(h.endUserSession))

	mux.HandleFunc("GET /invite/{token}", h.linkForm(app.LinkInvite))
	mux.HandleFunc("POST /invite/{token}", h.linkSubmit(app.LinkInvite))
	mux.HandleFunc("GET /reset/{token}", h.linkForm(app.LinkReset))
	mux.HandleFunc("POST /reset/{token}", h.linkSubmit(app.LinkReset))
}

// currentSessionID is the id of the request's own session row.
func currentSessionID(a *sessionUser) string {
	if st, _ := a.sess.Values[stateKey{}].(*serverState); st != nil && st.session != nil {
		return st.session.ID
	}
	return ""
}

// sessionRows turns app's session list into rows whose "end" posts under base.
func sessionRows(list []app.SessionInfo, base string) []views.SessionRow {
	rows := make([]views.SessionRow, 0, len(list))
	for _, s := range list {
		rows = append(rows, views.SessionRow{
			Created: formatTime(s.CreatedAt), LastSeen: formatTime(s.LastSeenAt),
			ClientAddr: s.ClientAddr, UserAgent: s.UserAgent, Current: s.Current,
			EndURL: base + "/sessions/" + url.PathEscape(s.Handle) + "/end",
		})
	}
	return rows
}

// account shows the user's own account page.
func (h *handler) account(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, _ := strconv.ParseInt(a.actor.ID, 10, 64)
	list, err := h.svc.ListSessions(r.Context(), a.actor, id, currentSessionID(a))
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.AccountView{Email: a.actor.Email, Role: string(a.actor.Role), Sessions: sessionRows(list, "/account")}
	h.render(w, r, http.StatusOK, views.AccountPage(h.page(a, "Your account", "", h.popFlash(w, r, a)), v))
}

// changePassword sets the user's own password; app ends every other session
// (and token) and hands back a new session for this browser. A refusal goes
// back to /account with the reason; passwords are never kept.
func (h *handler) changePassword(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	newPassword := r.PostForm.Get("new_password")
	if newPassword != r.PostForm.Get("confirm") {
		h.refuse(w, r, a, "/account", app.Errorf(app.EINVALID, "The new passwords do not match."), nil)
		return
	}
	res, err := h.svc.ChangePassword(r.Context(), a.actor, app.ChangePasswordInput{
		Current: r.PostForm.Get("current_password"), New: newPassword,
		ClientAddr: httpx.ClientAddr(r), UserAgent: r.UserAgent(), Console: true,
	})
	if err != nil {
		h.refuse(w, r, a, "/account", err, nil)
		return
	}
	if err := h.startSessionWithFlash(r, w, res.SessionToken,
		"Your password was changed. Your other sessions and API tokens have ended."); err != nil {
		h.renderError(w, r, nil, err)
		return
	}
	redirect(w, r, "/account")
}

// startSessionWithFlash is startSession for a token app just issued, with a
// message for the next page.
func (h *handler) startSessionWithFlash(r *http.Request, w http.ResponseWriter, token, flash string) error {
	sess := sessions.NewSession(h.sessions, h.sessions.name)
	sess.Options = h.sessions.options()
	sess.ID = token
	sess.IsNew = true
	sess.AddFlash(flash, flashKey)
	return h.sessions.Save(r, w, sess)
}

// endOwnSession ends one of the user's own sessions.
func (h *handler) endOwnSession(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, _ := strconv.ParseInt(a.actor.ID, 10, 64)
	if err := h.svc.EndSession(r.Context(), a.actor, id, r.PathValue("handle")); err != nil {
		h.refuseListed(w, r, a, "/account", err)
		return
	}
	h.addFlash(w, r, a, "The session has ended.")
	redirect(w, r, "/account")
}

// userDetail is an admin's page of one user: reset link and sessions.
func (h *handler) userDetail(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "user")
	if !ok {
		return
	}
	u, err := h.svc.GetUser(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	list, err := h.svc.ListSessions(r.Context(), a.actor, id, currentSessionID(a))
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	sid := strconv.FormatInt(u.ID, 10)
	v := views.UserDetailView{ID: sid, Email: u.Email, Role: string(u.Role), Disabled: u.Disabled,
		Pending: !u.HasPassword(), Created: formatTime(u.CreatedAt), IsSelf: sid == a.actor.ID,
		Sessions: sessionRows(list, "/users/"+sid)}
	if v.SignIn, err = h.userSignInView(r, a, u.ID); err != nil {
		h.renderError(w, r, a, err)
		return
	}
	h.render(w, r, http.StatusOK, views.UserDetailPage(h.page(a, u.Email, views.NavUsers, h.popFlash(w, r, a)), v))
}

// sendResetLink makes a reset link (a new invitation for a user who never
// accepted theirs) and sends the admin to the page that shows it once.
func (h *handler) sendResetLink(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "user")
	if !ok {
		return
	}
	if _, err := h.svc.RequestPasswordReset(r.Context(), a.actor, id, true); err != nil {
		h.refuse(w, r, a, fmt.Sprintf("/users/%d", id), err, nil)
		return
	}
	redirect(w, r, fmt.Sprintf("/users/%d/link", id))
}

// revealLink shows, once, the link this admin just made for the user. The
// POST that made it redirected here, so its response never held the link.
func (h *handler) revealLink(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "user")
	if !ok {
		return
	}
	res, err := h.svc.RevealPasswordLink(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.LinkRevealView{UserID: strconv.FormatInt(id, 10), Email: res.User.Email, Invite: res.Purpose == app.LinkInvite,
		URL: httpx.BaseURL(r) + res.Path(), Expires: formatTime(res.ExpiresAt)}
	h.render(w, r, http.StatusOK, views.LinkRevealPage(h.page(a, "Link for "+res.User.Email, views.NavUsers, ""), v))
}

// endUserSession ends one of a user's sessions (admins; app checks).
func (h *handler) endUserSession(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "user")
	if !ok {
		return
	}
	if err := h.svc.EndSession(r.Context(), a.actor, id, r.PathValue("handle")); err != nil {
		h.refuseListed(w, r, a, fmt.Sprintf("/users/%d", id), err)
		return
	}
	h.addFlash(w, r, a, "The session has ended.")
	redirect(w, r, fmt.Sprintf("/users/%d", id))
}

// refuseListed answers a refused action on a row of a list (end a
// session, revoke a token): a row already gone (ended in another tab) is
// said on the page it was listed on, like any refusal.
func (h *handler) refuseListed(w http.ResponseWriter, r *http.Request, a *sessionUser, back string, err error) {
	if app.ErrCode(err) == app.ENOTFOUND {
		h.addErrorFlash(w, r, a, app.ErrMessage(err))
		redirect(w, r, back)
		return
	}
	h.refuse(w, r, a, back, err, nil)
}

func linkTitle(purpose app.LinkPurpose) string {
	if purpose == app.LinkInvite {
		return "Accept invitation"
	}
	return "Set a new password"
}

// linkForm shows the set-password form behind an invitation or reset link.
func (h *handler) linkForm(purpose app.LinkPurpose) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		httpx.NoStore(w)
		token := r.PathValue("token")
		r = withoutToken(r, purpose)
		info, err := h.svc.PasswordLinkInfo(r.Context(), token, purpose)
		if err != nil {
			h.linkFailed(w, r, purpose, err)
			return
		}
		f := views.SetPasswordForm{Email: info.Email, Invite: purpose == app.LinkInvite, Action: purpose.Path(url.PathEscape(token))}
		h.render(w, r, http.StatusOK, views.SetPasswordPage(views.Page{Title: linkTitle(purpose)}, f))
	}
}

// linkSubmit sets the password through the link and logs the user in.
func (h *handler) linkSubmit(purpose app.LinkPurpose) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		httpx.NoStore(w)
		token := r.PathValue("token")
		r = withoutToken(r, purpose)
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			h.renderStatus(w, r, nil, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		info, err := h.svc.PasswordLinkInfo(r.Context(), token, purpose)
		if err != nil {
			h.linkFailed(w, r, purpose, err)
			return
		}
		form := views.SetPasswordForm{Email: info.Email, Invite: purpose == app.LinkInvite, Action: purpose.Path(url.PathEscape(token))}
		password := r.PostForm.Get("password")
		if password != r.PostForm.Get("confirm") {
			form.Error = "The passwords do not match."
			h.render(w, r, http.StatusBadRequest, views.SetPasswordPage(views.Page{Title: linkTitle(purpose)}, form))
			return
		}
		old, oldErr := h.current(r)
		res, err := h.svc.AcceptPasswordLink(r.Context(), app.AcceptLinkInput{Token: token, Purpose: purpose,
			Password: password, ClientAddr: httpx.ClientAddr(r), UserAgent: r.UserAgent()})
		if err != nil {
			if app.ErrCode(err) == app.EINVALID {
				form.Error = errMessage(err)
				h.render(w, r, http.StatusBadRequest, views.SetPasswordPage(views.Page{Title: linkTitle(purpose)}, form))
				return
			}
			h.linkFailed(w, r, purpose, err)
			return
		}
		// Whoever was logged in in this browser before is logged out.
		if oldErr == nil && old != nil && old.actor.ID != strconv.FormatInt(res.User.ID, 10) {
			if err := h.svc.Logout(r.Context(), old.actor, old.sess.ID); err != nil {
				h.log.WarnContext(r.Context(), "end previous session at link use", "err", err)
			}
		}
		msg := "Your password is set. Welcome!"
		if purpose == app.LinkReset {
			msg = "Your new password is set; your other sessions have ended."
		}
		if res.SessionToken == "" {
			// Two-factor users log in with their second factor as usual.
			redirect(w, r, "/login?password=set")
			return
		}
		if err := h.startSessionWithFlash(r, w, res.SessionToken, msg); err != nil {
			// The password is set; logging in by hand still works.
			h.log.WarnContext(r.Context(), "start session after link use", "err", err)
			redirect(w, r, "/login")
			return
		}
		redirect(w, r, "/")
	}
}

// withoutToken returns r with the link's token cut from its URL, so that
// the error logs (which name the path) never hold a live token.
func withoutToken(r *http.Request, purpose app.LinkPurpose) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = purpose.Path("redacted"), ""
	r2.URL = &u
	return r2
}

// linkFailed answers a dead link with a readable page; other errors as usual.
func (h *handler) linkFailed(w http.ResponseWriter, r *http.Request, purpose app.LinkPurpose, err error) {
	if app.ErrCode(err) == app.ENOTFOUND {
		h.render(w, r, http.StatusNotFound, views.LinkInvalidPage(views.Page{Title: linkTitle(purpose)}, errMessage(err)))
		return
	}
	h.renderError(w, r, nil, err)
}
