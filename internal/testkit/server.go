package testkit

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nexplane/nexplane/app/httpx"
)

// ServerOptions say how Serve serves a handler.
type ServerOptions struct {
	// TLS serves over TLS with httptest's certificate (Server.Client
	// trusts it); false serves plain HTTP.
	TLS bool
	// TLSConfig, when set, serves over TLS with this config instead (the
	// agent listener's mutual TLS).
	TLSConfig *tls.Config
	// Headers adds the server's security headers, as the console and API
	// listener has them (HSTS only over TLS).
	Headers bool
	// Log receives recovered panics; nil: discarded.
	Log *slog.Logger
	// RenderPanic answers a recovered panic; nil: the API's JSON 500.
	RenderPanic func(http.ResponseWriter, *http.Request)
}

// Serve starts h behind the server's middleware chain (request ids, panic
// recovery, then the security headers when asked) and closes it when the
// test ends.
func Serve(tb testing.TB, h http.Handler, o ServerOptions) *httptest.Server {
	tb.Helper()
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	render := o.RenderPanic
	if render == nil {
		render = func(w http.ResponseWriter, r *http.Request) { httpx.WriteError(w, r, log, errors.New("panic")) }
	}
	if o.Headers {
		h = httpx.SecurityHeaders(o.TLS || o.TLSConfig != nil)(h)
	}
	srv := httptest.NewUnstartedServer(httpx.RequestIDs(httpx.Recover(log, render)(h)))
	switch {
	case o.TLSConfig != nil:
		srv.TLS = o.TLSConfig
		srv.StartTLS()
	case o.TLS:
		srv.StartTLS()
	default:
		srv.Start()
	}
	tb.Cleanup(srv.Close)
	return srv
}
