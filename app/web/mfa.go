package web

import (
	"cmp"
	"net/http"
	"net/url"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// The half-finished login (password right, second factor not yet given) is
// a server-side record (app.MFAChallenge, five minutes, single use); the
// browser holds only its random token in this cookie, MAC'd like the
// session cookie, HttpOnly, SameSite=Strict and, outside plain-HTTP trials,
// Secure with the __Host- prefix. The form that completes it is under the
// same cross-origin protection as every console form.
const (
	mfaCookieSecure   = "__Host-nexplane_mfa"
	mfaCookieInsecure = "nexplane_mfa"
)

func (h *handler) mfaCookieName() string {
	if h.sessions.secure {
		return mfaCookieSecure
	}
	return mfaCookieInsecure
}

func (h *handler) setMFACookie(w http.ResponseWriter, token string) error {
	value, err := h.sessions.codec.Encode(h.mfaCookieName(), token)
	if err != nil {
		return err
	}
	http.SetCookie(w, h.mfaCookie(value, int(app.MFAChallengeTTL.Seconds())))
	return nil
}

func (h *handler) clearMFACookie(w http.ResponseWriter) {
	http.SetCookie(w, h.mfaCookie("", -1))
}

func (h *handler) mfaCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: h.mfaCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		Secure: h.sessions.secure, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	}
}

// mfaToken returns the verified token of the browser's half-finished login.
func (h *handler) mfaToken(r *http.Request) string {
	c, err := r.Cookie(h.mfaCookieName())
	if err != nil || c.Value == "" {
		return ""
	}
	var token string
	if err := h.sessions.codec.Decode(h.mfaCookieName(), c.Value, &token); err != nil {
		return ""
	}
	return token
}

// mfaLoginForm shows the second login step to a browser that passed the
// first; others go back to the login page.
func (h *handler) mfaLoginForm(w http.ResponseWriter, r *http.Request) {
	httpx.NoStore(w)
	next := localTarget(r.URL.Query().Get("next"))
	if h.mfaToken(r) == "" {
		redirect(w, r, "/login")
		return
	}
	h.render(w, r, http.StatusOK, views.MFALoginPage(views.Page{Title: "Two-factor authentication"},
		views.MFALoginForm{Next: next, Passkey: h.offerPasskey(r)}))
}

// mfaLogin checks the code and, when it holds, starts the session as the
// password step would have without MFA.
func (h *handler) mfaLogin(w http.ResponseWriter, r *http.Request) {
	httpx.NoStore(w)
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, nil, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	next := localTarget(r.PostForm.Get("next"))
	token := h.mfaToken(r)
	if token == "" {
		redirect(w, r, "/login")
		return
	}
	old, oldErr := h.current(r)
	res, err := h.svc.CompleteMFALogin(r.Context(), app.MFALoginInput{
		Token: token, Code: r.PostForm.Get("code"), ClientAddr: httpx.ClientAddr(r), UserAgent: r.UserAgent(), Console: true,
	})
	if err != nil {
		code := app.ErrCode(err)
		if code == app.EINTERNAL {
			h.log.ErrorContext(r.Context(), "mfa login failed", "request_id", httpx.RequestID(r.Context()), "err", err)
		}
		httpx.RetryAfter(w, err)
		h.render(w, r, httpx.Status(code), views.MFALoginPage(views.Page{Title: "Two-factor authentication"},
			views.MFALoginForm{Next: next, Error: errMessage(err), Passkey: h.offerPasskey(r)}))
		return
	}
	h.clearMFACookie(w)
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

// mfaEnrolPath is where a user the policy covers is sent until they have a
// second factor.
const mfaEnrolPath = "/account/mfa"

// toEnrolment sends a user who must enrol to the enrolment page.
func (h *handler) toEnrolment(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", mfaEnrolPath)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	redirect(w, r, mfaEnrolPath)
}

// mfaAccount shows the user's two-factor status, a pending set-up or the
// button to start one.
func (h *handler) mfaAccount(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	st, err := h.svc.MFAStatusOf(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	// This page is about the authenticator app; passkeys have their own.
	totpOn := st.Has(app.FactorTOTP)
	v := views.MFAAccountView{
		Required: st.Required, MustEnroll: st.MustEnroll(), Enrolled: totpOn, CanDisable: totpOn && st.CanDisable(),
		RecoveryCodesLeft: st.RecoveryCodes,
	}
	if !totpOn && st.Pending {
		enr, err := h.svc.PendingTOTPEnrollment(r.Context(), a.actor)
		if err != nil && app.ErrCode(err) != app.ENOTFOUND {
			h.renderError(w, r, a, err)
			return
		}
		if enr != nil {
			v.Pending, v.Secret, v.OTPAuthURL, v.QRDataURL = true, enr.Secret, enr.URL, enr.QRDataURL()
		}
	}
	h.render(w, r, http.StatusOK, views.MFAAccountPage(h.page(a, "Two-factor authentication", "", h.popFlash(w, r, a)), v))
}

// mfaEnrol starts a TOTP set-up; the page then shows the QR code and secret.
func (h *handler) mfaEnrol(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if _, err := h.svc.BeginTOTPEnrollment(r.Context(), a.actor); err != nil {
		h.mfaFormError(w, r, a, err)
		return
	}
	redirect(w, r, mfaEnrolPath)
}

// mfaConfirm checks the first code and shows the recovery codes, once.
func (h *handler) mfaConfirm(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	codes, err := h.svc.ConfirmTOTPEnrollment(r.Context(), a.actor, r.PostForm.Get("code"))
	if err != nil {
		h.mfaFormError(w, r, a, err)
		return
	}
	h.addFlash(w, r, a, "Two-factor authentication is on.")
	h.showOnce(w, r, a, app.OneTimeSecret{Kind: app.RevealRecoveryCodes, Title: "Recovery codes", Codes: codes, Back: "/"})
}

// mfaRegenerate replaces the recovery codes and shows the new ones, once.
func (h *handler) mfaRegenerate(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	codes, err := h.svc.RegenerateRecoveryCodes(r.Context(), a.actor, r.PostForm.Get("code"))
	if err != nil {
		h.mfaFormError(w, r, a, err)
		return
	}
	h.showOnce(w, r, a, app.OneTimeSecret{Kind: app.RevealRecoveryCodes, Title: "Recovery codes", Codes: codes, Back: mfaEnrolPath})
}

// mfaDisable turns two-factor authentication off (password and code).
func (h *handler) mfaDisable(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	if err := h.svc.DisableMFA(r.Context(), a.actor, r.PostForm.Get("password"), r.PostForm.Get("code")); err != nil {
		h.mfaFormError(w, r, a, err)
		return
	}
	h.addFlash(w, r, a, "Two-factor authentication is off.")
	redirect(w, r, mfaEnrolPath)
}

// mfaFormError sends a refused input back (303) to the two-factor page
// with the reason; nothing typed there (codes, a password) is worth
// keeping. Other failures become an error page.
func (h *handler) mfaFormError(w http.ResponseWriter, r *http.Request, a *sessionUser, err error) {
	h.refuse(w, r, a, mfaEnrolPath, err, nil)
}

// settingsPage shows the admin settings (app refuses other roles).
func (h *handler) settingsPage(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	h.renderSettings(w, r, a, http.StatusOK, "", "", h.popFlash(w, r, a))
}

func (h *handler) renderSettings(w http.ResponseWriter, r *http.Request, a *sessionUser, status int, chosen, formErr, flash string) {
	p, err := h.svc.ReadMFAPolicy(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	chosen = cmp.Or(chosen, string(p))
	v := views.SettingsView{Error: formErr}
	for _, o := range []struct{ value, label string }{
		{string(app.MFAOff), "Nobody (off)"},
		{string(app.MFAAdmins), "Admins"},
		{string(app.MFAEveryone), "Everyone"},
	} {
		v.MFARequired = append(v.MFARequired, views.Option{Value: o.value, Label: o.label, Selected: o.value == chosen})
	}
	h.render(w, r, status, views.SettingsPage(h.page(a, "Settings", views.NavSettings, flash), v))
}

func (h *handler) saveSettings(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	value := r.PostForm.Get("mfa_required")
	p, err := h.svc.SetMFAPolicy(r.Context(), a.actor, value)
	if err != nil {
		if code := app.ErrCode(err); code == app.EINVALID {
			h.renderSettings(w, r, a, httpx.Status(code), "", errMessage(err), "")
			return
		}
		h.renderError(w, r, a, err)
		return
	}
	h.addFlash(w, r, a, "Saved: two-factor authentication is required for "+map[app.MFAPolicy]string{
		app.MFAOff: "nobody", app.MFAAdmins: "admins", app.MFAEveryone: "everyone"}[p]+".")
	redirect(w, r, "/settings")
}

// mfaLoginTarget is where the password step sends a browser whose user has
// a second factor.
func mfaLoginTarget(next string) string {
	if next == "" {
		return "/login/mfa"
	}
	return "/login/mfa?next=" + url.QueryEscape(next)
}
