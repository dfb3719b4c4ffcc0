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

// setupOpen reports whether token opens the first-admin form right now:
// the gate must accept it and no user may exist yet.
func (h *handler) setupOpen(r *http.Request, token string) (bool, error) {
	if !h.setup.Valid(token, h.now()) {
		return false, nil
	}
	return h.svc.NeedsSetup(r.Context())
}

// setupForm shows the first-admin form behind the one-time link.
func (h *handler) setupForm(w http.ResponseWriter, r *http.Request) {
	httpx.NoStore(w)
	token := r.URL.Query().Get("token")
	open, err := h.setupOpen(r, token)
	if err != nil {
		h.renderError(w, r, nil, err)
		return
	}
	if !open {
		h.renderStatus(w, r, nil, http.StatusNotFound, "Setup link not valid", setupInvalid)
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
	open, err := h.setupOpen(r, token)
	if err != nil {
		h.renderError(w, r, nil, err)
		return
	}
	if !open {
		h.renderStatus(w, r, nil, http.StatusNotFound, "Setup link not valid", setupInvalid)
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
