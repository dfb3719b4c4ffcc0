package web

import (
	"bytes"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// genericInternal is all a 500 says; the detail is in the log under the
// request id.
const genericInternal = "Something went wrong on our side. If it keeps happening, give your administrator the request id below."

// errorTitles are the headings of the error pages by status.
var errorTitles = map[int]string{
	http.StatusBadRequest:          "Bad request",
	http.StatusUnauthorized:        "Not logged in",
	http.StatusForbidden:           "Not allowed",
	http.StatusNotFound:            "Not found",
	http.StatusConflict:            "Conflict",
	http.StatusTooManyRequests:     "Too many requests",
	http.StatusServiceUnavailable:  "Unavailable",
	http.StatusInternalServerError: "Internal error",
}

func errorTitle(status int) string {
	if t, ok := errorTitles[status]; ok {
		return t
	}
	return http.StatusText(status)
}

// renderError shows err as a page with the status its code maps to. An
// internal error is logged in full and shown only as a generic message.
func (h *handler) renderError(w http.ResponseWriter, r *http.Request, a *sessionUser, err error) {
	code := app.ErrCode(err)
	status := httpx.Status(code)
	msg := errMessage(err)
	if code == app.EINTERNAL {
		msg = genericInternal
	}
	httpx.LogError(h.log, r, err)
	httpx.RetryAfter(w, err)
	h.renderStatus(w, r, a, status, errorTitle(status), msg)
}

// renderStatus shows an error page with a message the caller chose to show.
func (h *handler) renderStatus(w http.ResponseWriter, r *http.Request, a *sessionUser, status int, title, msg string) {
	flash := ""
	if a != nil {
		// A refusal sent here (303) from a page this user may not see
		// shows here rather than waiting in the session.
		flash = h.popFlash(w, r, a)
	}
	p := h.page(a, title, "", flash)
	e := views.ErrorView{Status: status, Title: title, Message: sentence(msg), RequestID: httpx.RequestID(r.Context())}
	if isHTMX(r) {
		h.render(w, r, status, views.ErrorPage(p, e), views.ErrorFragment)
		return
	}
	h.render(w, r, status, views.ErrorPage(p, e))
}

// notFound is the answer for any path the console does not have.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	a, _ := h.current(r) // show the navigation when logged in; a failure here is not worth a 500
	h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no page at this address.")
}

// crossOriginRefused answers a state-changing request that a browser says
// came from another site (CSRF): nothing was done.
func (h *handler) crossOriginRefused(w http.ResponseWriter, r *http.Request) {
	h.renderStatus(w, r, nil, http.StatusForbidden, "Not allowed",
		"This request came from another site and was refused. Nothing was changed.")
}

// RenderInternalError writes the generic 500 page naming only the request
// id. The server passes it to httpx.Recover, so a panic shows no detail. It
// needs no handler state, so it works even when the console failed early.
func RenderInternalError(w http.ResponseWriter, r *http.Request) {
	title := errorTitle(http.StatusInternalServerError)
	e := views.ErrorView{Status: http.StatusInternalServerError, Title: title, Message: genericInternal,
		RequestID: httpx.RequestID(r.Context())}
	var buf bytes.Buffer
	if err := views.ErrorPage(views.Page{Title: title}, e).Render(r.Context(), &buf); err != nil {
		// The page itself failed: plain text still carries the id.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("Internal error. Request id: " + e.RequestID + "\n"))
		return
	}
	writeHTML(w, http.StatusInternalServerError, buf.Bytes())
}

// errMessage is app's safe message for err as the console shows it: one
// sentence.
func errMessage(err error) string { return sentence(app.ErrMessage(err)) }

// sentence turns app's message style (lower-case fragments that chain with
// ": ", as Go errors do, and stay so in the API) into the console's one
// style: a capital first letter and a closing full stop. A first word that
// is an identifier (base_dn, ldap.user.create) keeps its spelling; an
// acronym is written as one (AWS, LDAP).
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	word, _, _ := strings.Cut(s, " ")
	word = strings.TrimRight(word, ":,;")
	switch {
	case acronyms[word]:
		s = strings.ToUpper(word) + s[len(word):]
	case strings.ContainsAny(word, "_.=/@"): // an identifier keeps its spelling
	default:
		r, n := utf8.DecodeRuneInString(s)
		s = string(unicode.ToUpper(r)) + s[n:]
	}
	if !strings.ContainsRune(".!?:", rune(s[len(s)-1])) {
		s += "."
	}
	return s
}

// acronyms are the first words sentence writes in capitals.
var acronyms = map[string]bool{"aws": true, "ldap": true, "iam": true, "ssh": true, "tls": true, "api": true,
	"ca": true, "url": true, "siem": true, "sso": true, "totp": true, "mfa": true}
