// Package httpx holds the HTTP plumbing shared by the API, the console and
// the agent endpoints: request ids, panic recovery, security headers, error
// status mapping and client addresses.
package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/nexplane/nexplane/app"
)

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id the RequestIDs middleware gave this request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// RequestIDs gives every request a random id, echoed in X-Request-Id.
func RequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// Recover turns a panic into a logged error and a generic 500 naming only the
// request id; no stack trace or message reaches the client.
func Recover(log *slog.Logger, render func(w http.ResponseWriter, r *http.Request)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic serving request", "request_id", RequestID(r.Context()),
						"method", r.Method, "path", r.URL.Path, "panic", v)
					render(w, r)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// ContentSecurityPolicy allows only our own embedded assets: no inline script.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// SecurityHeaders sets the headers every response carries; HSTS only over TLS.
func SecurityHeaders(tls bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", ContentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Cross-Origin-Resource-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
			if tls {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// NoStore marks a response as never to be cached (authenticated content).
func NoStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// Status maps an application error code to its HTTP status: the one table.
func Status(code app.ErrorCode) int {
	switch code {
	case app.EINVALID, app.ECREDENTIALS:
		return http.StatusBadRequest
	case app.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case app.EFORBIDDEN, app.EMFAENROLL, app.EPASSKEYONLY:
		return http.StatusForbidden
	case app.ENOTFOUND:
		return http.StatusNotFound
	case app.ECONFLICT, app.EREVISIONMISMATCH:
		return http.StatusConflict
	case app.ERATELIMITED:
		return http.StatusTooManyRequests
	case app.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// ErrorBody is the JSON error envelope: {"error":{"code","message"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code      app.ErrorCode `json:"code"`
	Message   string        `json:"message"`
	RequestID string        `json:"request_id,omitempty"`
	// CurrentRevision comes with revision_mismatch: the revision to look at.
	CurrentRevision int64 `json:"current_revision,omitempty"`
}

// WriteError writes err as a JSON error. Internal errors are logged with
// their detail and answered with a generic message and the request id.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := app.ErrCode(err)
	LogError(log, r, err)
	RetryAfter(w, err)
	WriteJSON(w, Status(code), ErrorBody{Error: ErrorDetail{Code: code, Message: app.ErrMessage(err), RequestID: RequestID(r.Context()),
		CurrentRevision: app.ErrCurrentRevision(err)}})
}

// LogError logs a failed request: an internal error in full, and the cause
// behind any other (a driver's or SDK's error), which its user-safe message
// leaves out. Errors that are only the user's mistake are not logged.
func LogError(log *slog.Logger, r *http.Request, err error) {
	if app.ErrCode(err) == app.EINTERNAL {
		log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err)
	} else if cause := app.ErrCause(err); cause != nil {
		log.InfoContext(r.Context(), "request failed", "request_id", RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err, "cause", cause)
	}
}

// DefaultUnavailableRetry is the Retry-After of an unavailable answer
// whose error names no wait (a database that does not answer).
const DefaultUnavailableRetry = 5 * time.Second

// RetryAfter sets the Retry-After header, in whole seconds rounded up, when
// err is rate limited with a known wait or unavailable (a busy or
// unreachable dependency; DefaultUnavailableRetry unless err names a wait);
// the one place for API, console and agent listener.
func RetryAfter(w http.ResponseWriter, err error) {
	var ae *app.Error
	wait := time.Duration(0)
	if errors.As(err, &ae) {
		wait = ae.RetryAfter
	}
	switch app.ErrCode(err) {
	case app.ERATELIMITED:
	case app.EUNAVAILABLE:
		if wait <= 0 {
			wait = DefaultUnavailableRetry
		}
	default:
		return
	}
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	}
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// ClientAddr is the peer's IP address. Proxy headers are not trusted: behind
// a TLS-terminating proxy every client shares the proxy's address, which
// only makes the per-address login limit stricter.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
