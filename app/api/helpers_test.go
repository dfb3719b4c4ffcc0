package api_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// testPassword is every fixture user's password.
const testPassword = testkit.TestPassword

// testEnv is the API over a real store (SQLite, or PostgreSQL when
// NEXPLANE_TEST_POSTGRES_URL is set) with real bcrypt (cost 4) and RS256.
type testEnv struct {
	t      testing.TB
	db     *store.DB
	svc    *app.Service
	tokens *auth.Tokens
	key    *rsa.PrivateKey
	clock  *testkit.Clock
	srv    *httptest.Server
}

func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	return newTestEnvWith(tb, testkit.Options{}, nil)
}

// newTestEnvWith serves the API over a service built with o; adjust, when
// set, changes the API's config (tokens on the clock) before it is served.
func newTestEnvWith(tb testing.TB, o testkit.Options, adjust func(*api.Config, *testkit.Env)) *testEnv {
	tb.Helper()
	k := testkit.NewService(tb, o)
	key := testkit.RSAKey(tb, 0)
	tokens, err := auth.NewTokens(key, "nexplane", "nexplane-api", k.Clock.Now)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := api.Config{Service: k.Service, Tokens: tokens, Logger: k.Log}
	if adjust != nil {
		adjust(&cfg, k)
	}
	srv := testkit.Serve(tb, api.New(cfg), testkit.ServerOptions{Log: k.Log})
	return &testEnv{t: tb, db: k.DB, svc: k.Service, tokens: cfg.Tokens, key: key, clock: k.Clock, srv: srv}
}

// mkUser creates a user directly through the service (as the CLI would).
func (e *testEnv) mkUser(email string, role app.Role) *app.User {
	e.t.Helper()
	return testkit.MustCreateUser(e.t, e.svc, email, role)
}

// login returns a bearer token for email.
func (e *testEnv) login(email string) string {
	e.t.Helper()
	status, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": testPassword})
	if status != http.StatusOK {
		e.t.Fatalf("login %s: %d %v", email, status, body)
	}
	return body["token"].(string)
}

// do sends a request; body may be nil, a string (sent raw) or a value to
// marshal. It returns the status and the decoded JSON object.
func (e *testEnv) do(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	status, raw := e.doRaw(method, path, token, body, nil)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %q", method, path, raw)
		}
	}
	return status, out
}

func (e *testEnv) doRaw(method, path, token string, body any, hdr http.Header) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// counts is a snapshot of what a failed request must not change.
type counts struct{ users, audit int }

func (e *testEnv) counts() counts {
	e.t.Helper()
	ctx := context.Background()
	n, err := e.db.CountUsers(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	evs, err := e.db.ListAudit(ctx, app.AuditFilter{Limit: app.MaxAuditLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return counts{users: n, audit: len(evs)}
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func errMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}
