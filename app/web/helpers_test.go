package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/connector/aws"
	"github.com/nexplane/nexplane/app/connector/hosts"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/app/web"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// testPassword passes app's password rules.
const testPassword = "quiet-harbour-lantern-42"

// panicText must never reach a client.
const panicText = "boom: secret internal detail 7f3a"

// testClock is a controllable app.Clock shared by the service and the console.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one console over a real store and hasher, served over TLS the way
// the server wires it: request ids, panic recovery, then the console.
type env struct {
	t     *testing.T
	svc   *app.Service
	srv   *httptest.Server
	clock *testClock
	gate  *app.SetupGate
	// ca is the agent CA; nil unless envOpts.agents.
	ca *pki.CA
	// db is the store under the service, for fixtures.
	db *store.DB
}

type envOpts struct {
	insecure bool
	setup    bool
	limiter  *app.LoginLimiter
	// headers adds the server's security headers (CSP), as the browser
	// test needs to prove the pages work under the real policy.
	headers bool
	// aws registers the AWS driver too, as the server does.
	aws bool
	// hosts registers the hosts driver too (without agents to reach).
	hosts bool
	// agents gives the service a real agent CA, so hosts can enroll.
	agents bool
	// agentURL is web.Config.AgentURL.
	agentURL string
	// api serves the JSON API under /api/ beside the console, over the
	// same service, as the server does.
	api bool
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	db := storetest.MustOpenStore(t)
	clock := &testClock{now: time.Now().UTC()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The real registry (LDAP), a real vault and a real engine running in
	// the background; change request tests point connectors at a real slapd.
	reg := app.NewRegistry()
	ldap.Register(reg)
	if o.aws {
		aws.Register(reg)
	}
	if o.hosts {
		hosts.Register(reg, hosts.NewDriver(nil, db, clock.Now))
	}
	v, err := vault.New(bytes.Repeat([]byte{0x24}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ca *pki.CA
	var signer app.AgentSigner
	if o.agents {
		if ca, err = pki.LoadOrCreateCA(context.Background(), db, v, clock.Now()); err != nil {
			t.Fatal(err)
		}
		signer = ca
	}
	eng := engine.New(engine.Config{Store: db, Registry: reg, Sealer: v, Logger: log, Clock: clock.Now, Poll: 100 * time.Millisecond})
	svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2), Limiter: o.limiter, Clock: clock.Now, Logger: log,
		Registry: reg, Sealer: v, Queued: eng.Notify, Agents: signer})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); eng.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
	e := &env{t: t, svc: svc, clock: clock, ca: ca, db: db}
	if o.setup {
		g, err := app.NewSetupGate(clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.gate = g
	}
	h, err := web.New(web.Config{Service: svc, Setup: e.gate, Secure: !o.insecure,
		CookieKey: bytes.Repeat([]byte{0x42}, 32), Logger: log, Clock: clock.Now, AgentURL: o.agentURL})
	if err != nil {
		t.Fatal(err)
	}
	outer := http.NewServeMux()
	outer.Handle("/", h)
	outer.HandleFunc("GET /test/panic", func(http.ResponseWriter, *http.Request) { panic(panicText) })
	if o.api {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := auth.NewTokens(key, "nexplane", "nexplane-api", clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		outer.Handle("/api/", api.New(api.Config{Service: svc, Tokens: tokens, Logger: log}))
	}
	var inner http.Handler = outer
	if o.headers {
		inner = httpx.SecurityHeaders(!o.insecure)(outer)
	}
	wrapped := httpx.RequestIDs(httpx.Recover(log, web.RenderInternalError)(inner))
	if o.insecure {
		e.srv = httptest.NewServer(wrapped)
	} else {
		e.srv = httptest.NewTLSServer(wrapped)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser-like client with its own cookie jar that does not
// follow redirects, so tests see each 303.
func (e *env) client() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := *e.srv.Client() // a copy: srv.Client() returns one shared client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// seedUser creates a user directly through the service.
func (e *env) seedUser(email string, role app.Role) *app.User {
	e.t.Helper()
	u, err := e.svc.CreateUser(context.Background(), app.SystemActor("test"),
		app.NewUser{Email: email, Password: testPassword, Role: string(role)})
	if err != nil {
		e.t.Fatalf("seed user %s: %v", email, err)
	}
	return u
}

// response is a read response.
type response struct {
	*http.Response
	body string
}

func (e *env) do(c *http.Client, req *http.Request) response {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{Response: resp, body: string(b)}
}

func (e *env) get(c *http.Client, path string, hdr ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	setHeaders(req, hdr)
	return e.do(c, req)
}

func (e *env) post(c *http.Client, path string, form url.Values, hdr ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	setHeaders(req, hdr)
	return e.do(c, req)
}

func setHeaders(req *http.Request, kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
}

// login logs c in and fails the test unless it lands on the dashboard.
func (e *env) login(c *http.Client, email string) response {
	e.t.Helper()
	r := e.post(c, "/login", url.Values{"email": {email}, "password": {testPassword}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		e.t.Fatalf("login %s: status %d location %q body %s", email, r.StatusCode, r.Header.Get("Location"), r.body)
	}
	return r
}

// sessionCookie returns the session cookie set on resp.
func sessionCookie(t *testing.T, r response, name string) *http.Cookie {
	t.Helper()
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", name, r.Header.Values("Set-Cookie"))
	return nil
}

// bareClient sends only the cookies a test gives it.
func (e *env) bareClient() *http.Client {
	c := *e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// getWithCookie requests path presenting exactly cookie.
func (e *env) getWithCookie(path string, cookie *http.Cookie) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
	return e.do(e.bareClient(), req)
}

// requireLoggedOut asserts the response sends the browser to the login page.
func requireLoggedOut(t *testing.T, r response) {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("want redirect to /login, got %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func requireContains(t *testing.T, r response, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.body, s) {
			t.Errorf("body lacks %q (status %d):\n%s", s, r.StatusCode, r.body)
		}
	}
}
