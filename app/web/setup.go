package web

import (
	"net/http"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// setupInvalid is the one answer for a missing, wrong, expired or used
// setup token, so the page does not help anyone guess.
const setupInvalid = "This setup link is invalid or has expired."

// setupState says what a setup link opens right now: done when a user
// exists (whatever the token: setup is over, which the login page shows
// anyway), else open when the gate accepts the token.
func (h *handler) setupState(r *http.Request, token string) (open, done bool, err error) {
	need, err := h.svc.NeedsSetup(r.Context())
	if err != nil {
		return false, false, err
	}
	if !need {
		return false, true, nil
	}
	return h.setup.Valid(token, h.now()), false, nil
}

// setupClosed answers a setup link that does not open the form: a spent
// link says setup is done and leads to the login page (410, it will not
// work again); any other gets the one invalid-link message.
func (h *handler) setupClosed(w http.ResponseWriter, r *http.Request, done bool) {
	if done {
		h.render(w, r, http.StatusGone, views.SetupDonePage(views.Page{Title: "Setup is done"}))
		return
	}
	h.renderStatus(w, r, nil, http.StatusNotFound, "Setup link not valid", setupInvalid)
}

// setupForm shows the first-admin form behind the one-time link.
func (h *handler) setupForm(w http.ResponseWriter, r *http.Request) {
	httpx.NoStore(w)
	token := r.URL.Query().Get("token")
	open, done, err := h.setupState(r, token)
	if err != nil {
		h.renderError(w, r, nil, err)
		return
	}
	if !open {
		h.setupClosed(w, r, done)
		return
	}
	h.render(w, r, http.StatusOK, views.SetupPage(views.Page{Title: "Set up Nexplane"}, views.SetupForm{Token: token}))
}

// setupSubmit creates the first admin, closes the gate and logs them in.
func (h *handler) setupSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, nil, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	token := r.PostForm.Get("token")
	open, done, err := h.setupState(r, token)
	if err != nil {
		h.renderError(w, r, nil, err)
		return
	}
	if !open {
		h.setupClosed(w, r, done)
		return
	}
	email, password := r.PostForm.Get("email"), r.PostForm.Get("password")
	form := views.SetupForm{Token: token, Email: email}
	page := views.Page{Title: "Set up Nexplane"}
	if password != r.PostForm.Get("confirm") {
		form.Error = "The passwords do not match."
		h.render(w, r, http.StatusBadRequest, views.SetupPage(page, form))
		return
	}
	if _, err := h.svc.CreateFirstAdmin(r.Context(), email, password); err != nil {
		code := app.ErrCode(err)
		if code == app.EINTERNAL {
			h.renderError(w, r, nil, err)
			return
		}
		if code == app.ECONFLICT {
			// Someone else finished setup first: the link is spent.
			h.setup.Close()
			h.setupClosed(w, r, true)
			return
		}
		form.Error = errMessage(err)
		h.render(w, r, httpx.Status(code), views.SetupPage(page, form))
		return
	}
	h.setup.Close()

	// Log the new admin straight in; if that fails for any reason the
	// account exists and the login page works, so send them there.
	res, err := h.svc.Login(r.Context(), app.LoginInput{
		Email: email, Password: password, ClientAddr: httpx.ClientAddr(r), Console: true,
	})
	if err != nil {
		h.log.WarnContext(r.Context(), "login after setup", "err", err)
		redirect(w, r, "/login?setup=done")
		return
	}
	if err := h.sessions.startSession(r, w, res.SessionToken); err != nil {
		h.log.WarnContext(r.Context(), "session after setup", "err", err)
		redirect(w, r, "/login?setup=done")
		return
	}
	redirect(w, r, "/")
}
