package web

import (
	"cmp"
	"net/http"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// loginForm shows the login page, or sends a logged-in user on.
func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if a, err := h.current(r); err == nil && a != nil {
		redirect(w, r, cmp.Or(localTarget(next), "/"))
		return
	}
	p := views.Page{Title: "Log in"}
	switch {
	case r.URL.Query().Get("setup") == "done":
		p.Flash = "The admin account was created. Log in with it."
	case r.URL.Query().Get("password") == "set":
		p.Flash = "Your password is set. Log in with it and your second factor."
	}
	h.render(w, r, http.StatusOK, views.LoginPage(p, views.LoginForm{Next: localTarget(next), Providers: h.loginProviders(r)}))
}

// login checks the credentials (under app's rate limits) and starts a new
// server-side session with a new token.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, nil, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	email := r.PostForm.Get("email")
	next := localTarget(r.PostForm.Get("next"))

	// A cookie from before this login names a session we will not reuse;
	// end it so it cannot linger until its idle timeout.
	old, oldErr := h.current(r)

	res, err := h.svc.Login(r.Context(), app.LoginInput{
		Email: email, Password: r.PostForm.Get("password"),
		ClientAddr: httpx.ClientAddr(r), UserAgent: r.UserAgent(), Console: true,
	})
	if err != nil {
		code := app.ErrCode(err)
		if code == app.EINTERNAL {
			h.log.ErrorContext(r.Context(), "login failed", "request_id", httpx.RequestID(r.Context()), "err", err)
		}
		httpx.RetryAfter(w, err)
		h.render(w, r, httpx.Status(code), views.LoginPage(views.Page{Title: "Log in"},
			views.LoginForm{Email: email, Next: next, Error: errMessage(err), Providers: h.loginProviders(r)}))
		return
	}
	if res.MFAToken != "" {
		// Password right; the second step completes the login.
		if err := h.setMFACookie(w, res.MFAToken); err != nil {
			h.renderError(w, r, nil, err)
			return
		}
		redirect(w, r, mfaLoginTarget(next))
		return
	}
	if oldErr == nil && old != nil {
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

// logout ends the session on the server (so the cookie is dead even if it
// was copied) and clears it in the browser.
func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	a, err := h.current(r)
	if err != nil {
		h.renderError(w, r, nil, err)
		return
	}
	if a != nil {
		if err := h.svc.Logout(r.Context(), a.actor, a.sess.ID); err != nil {
			h.renderError(w, r, nil, err)
			return
		}
	}
	http.SetCookie(w, h.sessions.cookie("", -1))
	redirect(w, r, "/login")
}
