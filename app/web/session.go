package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// Cookie names. The __Host- prefix makes the browser insist on Secure,
// Path=/ and no Domain, so a sibling subdomain cannot plant or read it. A
// browser drops __Host- cookies without Secure, so plain-HTTP mode (for
// local trials only) uses the bare name.
const (
	cookieNameSecure   = "__Host-nexplane_session"
	cookieNameInsecure = "nexplane_session"
)

// cookieMaxAge bounds how old a cookie's MAC timestamp may be. The server
// enforces the real limits (idle 30 min, absolute 12 h) on the session row;
// this only makes an old cookie worthless even if its row somehow survived.
var cookieMaxAge = app.SessionAbsoluteTimeout + time.Hour

// sessionStore is a gorilla sessions.Store that keeps everything on the
// server. The cookie carries only the opaque token app.Service.Login made,
// MAC'd with securecookie; the session row (found by the token's hash) holds
// the user, the timeouts and Values (encoded as JSON in Session.Data).
type sessionStore struct {
	svc    *app.Service
	codec  *securecookie.SecureCookie
	name   string
	secure bool
	log    *slog.Logger
}

var _ sessions.Store = (*sessionStore)(nil)

func newSessionStore(svc *app.Service, key []byte, secure bool, log *slog.Logger) *sessionStore {
	codec := securecookie.New(key, nil) // MAC only: the token is random already
	codec.MaxAge(int(cookieMaxAge / time.Second))
	name := cookieNameSecure
	if !secure {
		name = cookieNameInsecure
	}
	return &sessionStore{svc: svc, codec: codec, name: name, secure: secure, log: log}
}

// serverState is what New learned from the database; it rides in Values
// under an unexported key type, which encodeValues never persists.
type serverState struct {
	actor   app.Actor
	session *app.Session
}

type stateKey struct{}

// Get returns the request's session, cached for the request by gorilla's
// registry so the database is asked once.
func (s *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie. A missing, forged,
// expired or revoked session yields a new, empty session (IsNew) and no
// error: to the caller that simply means "not logged in". Only a failure to
// ask the database is an error.
func (s *sessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.options()
	sess.IsNew = true
	token := s.tokenFrom(r)
	if token == "" {
		return sess, nil
	}
	actor, row, err := s.svc.ResolveSession(r.Context(), token)
	if err != nil {
		if app.ErrCode(err) == app.EUNAUTHORIZED {
			return sess, nil
		}
		return sess, fmt.Errorf("resolve console session: %w", err)
	}
	values, err := decodeValues(row.Data)
	if err != nil {
		// Unreadable values are only flashes; losing them beats locking
		// the user out.
		s.log.WarnContext(r.Context(), "console session data unreadable; starting empty", "err", err)
		values = map[any]any{}
	}
	values[stateKey{}] = &serverState{actor: actor, session: row}
	sess.ID = token
	sess.Values = values
	sess.IsNew = false
	return sess, nil
}

// Save persists Values to the session row when they changed and, for a
// session fresh from login, sets the cookie. MaxAge < 0 clears the cookie.
// A session can only begin at login (which creates its row); Save refuses
// to invent one.
func (s *sessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		http.SetCookie(w, s.cookie("", -1))
		return nil
	}
	if sess.ID == "" {
		return errors.New("save console session: no session token (sessions begin at login)")
	}
	st, _ := sess.Values[stateKey{}].(*serverState)
	if st == nil {
		actor, row, err := s.svc.ResolveSession(r.Context(), sess.ID)
		if err != nil {
			return fmt.Errorf("save console session: %w", err)
		}
		st = &serverState{actor: actor, session: row}
		sess.Values[stateKey{}] = st
	}
	data, err := encodeValues(sess.Values)
	if err != nil {
		return fmt.Errorf("save console session: %w", err)
	}
	if !bytes.Equal(data, st.session.Data) {
		if err := s.svc.SaveSessionData(r.Context(), st.session, data); err != nil {
			return fmt.Errorf("save console session: %w", err)
		}
	}
	if sess.IsNew {
		value, err := s.codec.Encode(s.name, sess.ID)
		if err != nil {
			return fmt.Errorf("encode session cookie: %w", err)
		}
		http.SetCookie(w, s.cookie(value, 0))
		sess.IsNew = false
	}
	return nil
}

// startSession makes the session for a token fresh from login and sets its
// cookie. Every login gets a new token, so a cookie planted before login
// (session fixation) is never promoted.
func (s *sessionStore) startSession(r *http.Request, w http.ResponseWriter, token string) error {
	sess := sessions.NewSession(s, s.name)
	sess.Options = s.options()
	sess.ID = token
	sess.IsNew = true
	return s.Save(r, w, sess)
}

// tokenFrom returns the verified token in the request's cookie, or "".
func (s *sessionStore) tokenFrom(r *http.Request) string {
	c, err := r.Cookie(s.name)
	if err != nil || c.Value == "" {
		return ""
	}
	var token string
	if err := s.codec.Decode(s.name, c.Value, &token); err != nil {
		return "" // forged, truncated or too old: same as no cookie
	}
	return token
}

func (s *sessionStore) options() *sessions.Options {
	return &sessions.Options{Path: "/", Secure: s.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// cookie builds the session cookie: no Domain, Path=/, HttpOnly,
// SameSite=Lax and no Max-Age, so it dies with the browser session; the
// server enforces the idle and absolute limits. maxAge < 0 deletes it.
func (s *sessionStore) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: s.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
}

// encodeValues keeps the string-keyed values (flashes and the like) as JSON;
// the in-memory serverState is never written. No values encode as nil.
func encodeValues(values map[any]any) ([]byte, error) {
	out := map[string]any{}
	for k, v := range values {
		if ks, ok := k.(string); ok {
			out[ks] = v
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode session values: %w", err)
	}
	return b, nil
}

func decodeValues(data []byte) (map[any]any, error) {
	values := map[any]any{}
	if len(data) == 0 {
		return values, nil
	}
	var in map[string]any
	if err := json.Unmarshal(data, &in); err != nil {
		return values, fmt.Errorf("decode session values: %w", err)
	}
	for k, v := range in {
		values[k] = v
	}
	return values, nil
}

// sessionUser is a logged-in request: who, and their session.
type sessionUser struct {
	actor app.Actor
	sess  *sessions.Session
	// flash is what popFlash took from the session, kept for the request
	// so that an error page rendered after the page handler popped it
	// still shows it; flashError marks it a refusal, which page frames
	// as one.
	flash      string
	flashError bool
}

// current returns the request's logged-in user, nil when there is none.
func (h *handler) current(r *http.Request) (*sessionUser, error) {
	sess, err := h.sessions.Get(r, h.sessions.name)
	if err != nil {
		return nil, err
	}
	st, _ := sess.Values[stateKey{}].(*serverState)
	if sess.IsNew || st == nil {
		return nil, nil
	}
	return &sessionUser{actor: st.actor, sess: sess}, nil
}

// authedHandler is a page handler that needs a logged-in user.
type authedHandler func(w http.ResponseWriter, r *http.Request, a *sessionUser)

// authed wraps fn: without a valid session the browser is sent to the login
// page, and a user whom the MFA policy covers and who has no second factor
// yet is sent to enrol first. Authenticated responses are never cached.
func (h *handler) authed(fn authedHandler) http.Handler {
	return h.authedWith(fn, false)
}

// authedEnrolling is authed for the enrolment pages themselves.
func (h *handler) authedEnrolling(fn authedHandler) http.Handler {
	return h.authedWith(fn, true)
}

func (h *handler) authedWith(fn authedHandler, enrolling bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.NoStore(w)
		a, err := h.current(r)
		if err != nil {
			h.renderError(w, r, nil, err)
			return
		}
		if a == nil {
			h.toLogin(w, r)
			return
		}
		if !enrolling {
			must, err := h.svc.MustEnrollMFA(r.Context(), a.actor)
			if err != nil {
				h.renderError(w, r, a, err)
				return
			}
			if must {
				h.toEnrolment(w, r)
				return
			}
		}
		fn(w, r, a)
	})
}

// toLogin sends an unauthenticated request to the login page. htmx follows
// HX-Redirect with a full navigation; a plain 303 would be swapped into
// the page instead. A GET remembers where it was going.
func (h *handler) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	redirect(w, r, target)
}

// flashKey holds success messages shown once on the next page;
// flashErrorKey refusals (a one-click action that app refused), shown in
// the error style. Neither ever holds a secret: flashes live in the
// session row.
const (
	flashKey      = "flash"
	flashErrorKey = "flash_error"
)

// addFlash stores a one-time message; failing to store it is not worth
// failing the request that already succeeded.
func (h *handler) addFlash(w http.ResponseWriter, r *http.Request, a *sessionUser, msg string) {
	h.addFlashAs(w, r, a, flashKey, msg)
}

// addErrorFlash stores a one-time refusal for the page the user is sent
// back to.
func (h *handler) addErrorFlash(w http.ResponseWriter, r *http.Request, a *sessionUser, msg string) {
	h.addFlashAs(w, r, a, flashErrorKey, msg)
}

func (h *handler) addFlashAs(w http.ResponseWriter, r *http.Request, a *sessionUser, key, msg string) {
	a.sess.AddFlash(sentence(msg), key)
	if err := a.sess.Save(r, w); err != nil {
		h.log.WarnContext(r.Context(), "save flash", "err", err)
	}
}

// popFlash returns and removes the pending messages, if any. When one of
// them is a refusal the request remembers it (a.flashError), so that page
// frames the message as an error.
func (h *handler) popFlash(w http.ResponseWriter, r *http.Request, a *sessionUser) string {
	errs, oks := a.sess.Flashes(flashErrorKey), a.sess.Flashes(flashKey)
	if len(errs)+len(oks) == 0 {
		return a.flash
	}
	if err := a.sess.Save(r, w); err != nil {
		h.log.WarnContext(r.Context(), "clear flash", "err", err)
	}
	a.flashError = len(errs) > 0
	msgs := make([]string, 0, len(errs)+len(oks))
	for _, f := range append(errs, oks...) {
		if s, ok := f.(string); ok {
			msgs = append(msgs, s)
		}
	}
	a.flash = strings.Join(msgs, " ")
	return a.flash
}

// keptKey prefixes the session value that holds what a user typed into a
// one-click action's form (a comment, a justification) when app refused
// it, keyed by the page the user is sent back to. Only non-secret free
// text goes there.
const keptKey = "kept:"

// popKept returns and forgets the fields kept for page; nil when none.
func (h *handler) popKept(w http.ResponseWriter, r *http.Request, a *sessionUser, page string) map[string]string {
	v, ok := a.sess.Values[keptKey+page]
	if !ok {
		return nil
	}
	delete(a.sess.Values, keptKey+page)
	if err := a.sess.Save(r, w); err != nil {
		h.log.WarnContext(r.Context(), "clear kept form", "err", err)
	}
	out := map[string]string{}
	switch m := v.(type) {
	case map[string]string: // stored in this request
		return m
	case map[string]any: // read back from the session row's JSON
		for k, x := range m {
			if s, ok := x.(string); ok {
				out[k] = s
			}
		}
	}
	return out
}

// isRefusal reports whether err is app refusing the action (bad input,
// wrong state, not allowed, a stale page, a target or limiter saying not
// now) rather than the console failing to ask.
func isRefusal(err error) bool {
	switch app.ErrCode(err) {
	case app.EINVALID, app.ECONFLICT, app.EREVISIONMISMATCH, app.EFORBIDDEN, app.EUNAVAILABLE, app.ERATELIMITED:
		return true
	}
	return false
}

// refuse answers a refused POST the PRG way: 303 back to the page the form
// was on, the reason as an error flash, and kept (what the user typed, may
// be nil) for that page to put back. Anything that is not a refusal gets
// the error page.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, a *sessionUser, back string, err error, kept map[string]string) {
	if !isRefusal(err) {
		h.renderError(w, r, a, err)
		return
	}
	httpx.LogError(h.log, r, err)
	if len(kept) > 0 {
		a.sess.Values[keptKey+back] = kept
	}
	h.addErrorFlash(w, r, a, app.ErrMessage(err))
	redirect(w, r, back)
}

// page is the frame every authenticated page needs.
func (h *handler) page(a *sessionUser, title, nav, flash string) views.Page {
	p := views.Page{Title: title, Nav: nav, Flash: flash}
	if a != nil {
		p.FlashError = flash != "" && a.flashError
		acts := h.svc.ListActions(a.actor)
		p.User = &views.CurrentUser{
			Email:   a.actor.Email,
			Role:    string(a.actor.Role),
			IsAdmin: acts.Allowed(app.ActionManageUsers),

			CanManageConnectors: acts.Allowed(app.ActionManageConnectors),
		}
	}
	return p
}
