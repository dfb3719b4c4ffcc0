package web

import (
	"cmp"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// Passkeys in the console. Each WebAuthn ceremony is two JSON requests made
// by views/static/passkeys.js: …/begin answers the options for
// navigator.credentials and sets a short-lived cookie naming the ceremony
// (its state stays on the server, app.PasskeyCeremony); …/finish posts the
// browser's answer. The cookie is MAC'd, HttpOnly, SameSite=Strict and,
// outside plain-HTTP trials, Secure with the __Host- prefix; the requests
// are under the console's cross-origin protection like every form.
const (
	passkeyCookieSecure   = "__Host-nexplane_webauthn"
	passkeyCookieInsecure = "nexplane_webauthn"
	passkeysPath          = "/account/passkeys"
	// maxPasskeyBody caps an answer: a few hundred bytes of JSON normally.
	maxPasskeyBody = 64 << 10
)

func (h *handler) passkeyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /login/passkey/begin", h.passkeyLoginBegin)
	mux.HandleFunc("POST /login/passkey/finish", h.passkeyLoginFinish)
	mux.HandleFunc("POST /login/mfa/passkey/begin", h.passkeyMFABegin)
	mux.HandleFunc("POST /login/mfa/passkey/finish", h.passkeyMFAFinish)

	// A user the policy covers may register a passkey as their enrolment.
	mux.Handle("GET "+passkeysPath, h.authedEnrolling(h.passkeysPage))
	mux.Handle("POST "+passkeysPath+"/begin", h.authedEnrolling(h.passkeyRegisterBegin))
	mux.Handle("POST "+passkeysPath+"/finish", h.authedEnrolling(h.passkeyRegisterFinish))
	mux.Handle("POST "+passkeysPath+"/reauth/begin", h.authed(h.passkeyReauthBegin))
	mux.Handle("POST "+passkeysPath+"/{id}/delete", h.authed(h.passkeyDelete))
	mux.Handle("POST "+passkeysPath+"/{id}/delete-with-passkey", h.authed(h.passkeyDeleteWithPasskey))
}

// relyingParty is who passkeys are registered with: from the configured
// public URL, else (development) from the request's Host.
func (h *handler) relyingParty(r *http.Request) app.RelyingParty {
	if h.publicURL != nil {
		return app.RelyingParty{ID: h.publicURL.Hostname(), Origin: h.publicURL.Scheme + "://" + h.publicURL.Host}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	name := host
	if hn, _, err := net.SplitHostPort(host); err == nil {
		name = hn
	}
	return app.RelyingParty{ID: strings.Trim(name, "[]"), Origin: scheme + "://" + host}
}

func (h *handler) passkeyCookieName() string {
	if h.sessions.secure {
		return passkeyCookieSecure
	}
	return passkeyCookieInsecure
}

func (h *handler) setPasskeyCookie(w http.ResponseWriter, token string) error {
	value, err := h.sessions.codec.Encode(h.passkeyCookieName(), token)
	if err != nil {
		return err
	}
	http.SetCookie(w, h.passkeyCookie(value, int(app.PasskeyCeremonyTTL/time.Second)))
	return nil
}

func (h *handler) clearPasskeyCookie(w http.ResponseWriter) {
	http.SetCookie(w, h.passkeyCookie("", -1))
}

func (h *handler) passkeyCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: h.passkeyCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		Secure: h.sessions.secure, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	}
}

// passkeyCeremonyToken returns the verified token of the browser's ceremony.
func (h *handler) passkeyCeremonyToken(r *http.Request) string {
	c, err := r.Cookie(h.passkeyCookieName())
	if err != nil || c.Value == "" {
		return ""
	}
	var token string
	if err := h.sessions.codec.Decode(h.passkeyCookieName(), c.Value, &token); err != nil {
		return ""
	}
	return token
}

// passkeyBegun answers a started ceremony: the cookie and the options.
func (h *handler) passkeyBegun(w http.ResponseWriter, r *http.Request, b *app.PasskeyBegin, err error) {
	httpx.NoStore(w)
	if err != nil {
		httpx.WriteError(w, r, h.log, err)
		return
	}
	if err := h.setPasskeyCookie(w, b.Token); err != nil {
		httpx.WriteError(w, r, h.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Options)
}

// readAnswer reads the browser's answer (JSON) of a ceremony.
func (h *handler) readAnswer(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPasskeyBody))
	if err != nil || !json.Valid(body) {
		httpx.WriteError(w, r, h.log, app.Errorf(app.EINVALID, "the passkey's answer could not be read"))
		return nil, false
	}
	return body, true
}

// passkeyDone tells the script where to go next.
func passkeyDone(w http.ResponseWriter, to string) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"redirect": to})
}

// passkeyLoginBegin starts a passwordless sign-in.
func (h *handler) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) {
	b, err := h.svc.BeginPasskeyLogin(r.Context(), h.relyingParty(r))
	h.passkeyBegun(w, r, b, err)
}

// passkeyLoginFinish checks the answer and starts the session.
func (h *handler) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	httpx.NoStore(w)
	body, ok := h.readAnswer(w, r)
	if !ok {
		return
	}
	token := h.passkeyCeremonyToken(r)
	h.clearPasskeyCookie(w)
	old, oldErr := h.current(r)
	res, err := h.svc.FinishPasskeyLogin(r.Context(), app.PasskeyLoginInput{
		RP: h.relyingParty(r), CeremonyToken: token, Response: body, ClientAddr: httpx.ClientAddr(r), UserAgent: r.UserAgent(),
	})
	if err != nil {
		httpx.WriteError(w, r, h.log, err)
		return
	}
	h.finishPasskeySignIn(w, r, old, oldErr, res)
}

// finishPasskeySignIn ends a previous session and starts the new one.
func (h *handler) finishPasskeySignIn(w http.ResponseWriter, r *http.Request, old *sessionUser, oldErr error, res *app.LoginResult) {
	h.clearMFACookie(w)
	if oldErr == nil && old != nil {
		if err := h.svc.Logout(r.Context(), old.actor, old.sess.ID); err != nil {
			h.log.WarnContext(r.Context(), "end previous session at login", "err", err)
		}
	}
	if err := h.sessions.startSession(r, w, res.SessionToken); err != nil {
		httpx.WriteError(w, r, h.log, err)
		return
	}
	passkeyDone(w, cmp.Or(localTarget(r.URL.Query().Get("next")), "/"))
}

// passkeyMFABegin starts the second login step with a passkey.
func (h *handler) passkeyMFABegin(w http.ResponseWriter, r *http.Request) {
	b, err := h.svc.BeginPasskeyMFA(r.Context(), h.relyingParty(r), h.mfaToken(r))
	h.passkeyBegun(w, r, b, err)
}

// passkeyMFAFinish completes the half-finished login with the answer.
func (h *handler) passkeyMFAFinish(w http.ResponseWriter, r *http.Request) {
	httpx.NoStore(w)
	body, ok := h.readAnswer(w, r)
	if !ok {
		return
	}
	token := h.passkeyCeremonyToken(r)
	h.clearPasskeyCookie(w)
	old, oldErr := h.current(r)
	res, err := h.svc.CompleteMFALoginPasskey(r.Context(), app.PasskeyMFAInput{
		RP: h.relyingParty(r), Token: h.mfaToken(r), CeremonyToken: token, Response: body, ClientAddr: httpx.ClientAddr(r),
		UserAgent: r.UserAgent(),
	})
	if err != nil {
		httpx.WriteError(w, r, h.log, err)
		return
	}
	h.finishPasskeySignIn(w, r, old, oldErr, res)
}

// passkeysPage lists the user's passkeys and offers to register one.
func (h *handler) passkeysPage(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	keys, err := h.svc.Passkeys(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	st, err := h.svc.MFAStatusOf(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.PasskeysView{MustEnroll: st.MustEnroll()}
	for _, k := range keys {
		pk := views.PasskeyRow{ID: strconv.FormatInt(k.ID, 10), Name: k.Name, Created: formatTime(k.CreatedAt), LastUsed: "never"}
		if !k.LastUsedAt.IsZero() {
			pk.LastUsed = formatTime(k.LastUsedAt)
		}
		v.Passkeys = append(v.Passkeys, pk)
	}
	h.render(w, r, http.StatusOK, views.PasskeysPage(h.page(a, "Passkeys", "", h.popFlash(w, r, a)), v))
}

// passkeyRegisterBegin starts registering a passkey with the name given.
func (h *handler) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	var in struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPasskeyBody)).Decode(&in); err != nil {
		httpx.WriteError(w, r, h.log, app.Errorf(app.EINVALID, "the request could not be read"))
		return
	}
	b, err := h.svc.BeginPasskeyRegistration(r.Context(), a.actor, h.relyingParty(r), a.sess.ID, in.Name)
	h.passkeyBegun(w, r, b, err)
}

// passkeyRegisterFinish stores the new passkey.
func (h *handler) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	body, ok := h.readAnswer(w, r)
	if !ok {
		return
	}
	token := h.passkeyCeremonyToken(r)
	h.clearPasskeyCookie(w)
	p, err := h.svc.FinishPasskeyRegistration(r.Context(), a.actor, h.relyingParty(r), a.sess.ID, token, body)
	if err != nil {
		httpx.WriteError(w, r, h.log, err)
		return
	}
	h.addFlash(w, r, a, "Passkey “"+p.Name+"” registered.")
	passkeyDone(w, passkeysPath)
}

// passkeyReauthBegin starts the fresh assertion that can stand in for the
// password when removing a passkey.
func (h *handler) passkeyReauthBegin(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	b, err := h.svc.BeginPasskeyReauth(r.Context(), a.actor, h.relyingParty(r), a.sess.ID)
	h.passkeyBegun(w, r, b, err)
}

// passkeyDelete removes a passkey after the current password (form).
func (h *handler) passkeyDelete(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	id, ok := h.pathID(w, r, a, "passkey")
	if !ok {
		return
	}
	err := h.svc.RemovePasskey(r.Context(), a.actor, app.RemovePasskeyInput{PasskeyID: id, Password: r.PostForm.Get("password")})
	if err != nil {
		h.refuse(w, r, a, passkeysPath, err, nil)
		return
	}
	h.addFlash(w, r, a, "Passkey removed.")
	redirect(w, r, passkeysPath)
}

// passkeyDeleteWithPasskey removes a passkey after a fresh assertion (JSON).
func (h *handler) passkeyDeleteWithPasskey(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpx.WriteError(w, r, h.log, app.Errorf(app.ENOTFOUND, "passkey not found"))
		return
	}
	body, ok := h.readAnswer(w, r)
	if !ok {
		return
	}
	token := h.passkeyCeremonyToken(r)
	h.clearPasskeyCookie(w)
	err = h.svc.RemovePasskey(r.Context(), a.actor, app.RemovePasskeyInput{
		PasskeyID: id, RP: h.relyingParty(r), SessionToken: a.sess.ID, CeremonyToken: token, Response: body,
	})
	if err != nil {
		httpx.WriteError(w, r, h.log, err)
		return
	}
	h.addFlash(w, r, a, "Passkey removed.")
	passkeyDone(w, passkeysPath)
}

// parsePublicURL checks NEXPLANE_PUBLIC_URL as the console gets it.
func parsePublicURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, app.Errorf(app.EINVALID, "the public URL must be https://host[:port]")
	}
	return u, nil
}

// offerPasskey reports whether the second login step should offer a
// passkey (the half-logged-in user has one).
func (h *handler) offerPasskey(r *http.Request) bool {
	ok, err := h.svc.HasPasskeyForMFA(r.Context(), h.mfaToken(r))
	if err != nil {
		h.log.WarnContext(r.Context(), "passkeys of half-logged-in user", "err", err)
		return false
	}
	return ok
}
