package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// testPassword satisfies the password policy; each test user gets it.
const testPassword = "correct horse battery staple"

// clock follows real time from its start value and can be moved forward,
// so tests can make things old without freezing time.
type clock struct {
	mu     sync.Mutex
	t      time.Time // the value at start
	start  time.Time // real time at start
	offset time.Duration
}

func newClock() *clock { return &clock{t: time.Now().UTC(), start: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.Add(time.Since(c.start) + c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// testEnv is the API over a real store (SQLite, or PostgreSQL when
// NEXPLANE_TEST_POSTGRES_URL is set) with real bcrypt (cost 4) and RS256.
type testEnv struct {
	t      testing.TB
	db     *store.DB
	svc    *app.Service
	tokens *auth.Tokens
	key    *rsa.PrivateKey
	clock  *clock
	srv    *httptest.Server
}

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

// sharedKey avoids generating an RSA key per test; it is read-only.
func sharedKey(tb testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	db := storetest.MustOpenStore(tb)
	clk := newClock()
	svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2), Clock: clk.Now})
	key := sharedKey(tb)
	tokens, err := auth.NewTokens(key, "nexplane", "nexplane-api", clk.Now)
	if err != nil {
		tb.Fatal(err)
	}
	srv := newServer(tb, httpx.RequestIDs(api.New(api.Config{Service: svc, Tokens: tokens})))
	return &testEnv{t: tb, db: db, svc: svc, tokens: tokens, key: key, clock: clk, srv: srv}
}

func newServer(tb testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// mkUser creates a user directly through the service (as the CLI would).
func (e *testEnv) mkUser(email string, role app.Role) *app.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(context.Background(), app.SystemActor("test"),
		app.NewUser{Email: email, Password: testPassword, Role: string(role)})
	if err != nil {
		e.t.Fatalf("create %s: %v", email, err)
	}
	return u
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
