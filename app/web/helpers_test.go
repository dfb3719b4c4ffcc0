package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/connector/aws"
	"github.com/nexplane/nexplane/app/connector/hosts"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/app/pki"
	ssoldap "github.com/nexplane/nexplane/app/sso/ldapauth"
	ssooidc "github.com/nexplane/nexplane/app/sso/oidc"
	"github.com/nexplane/nexplane/app/web"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// testPassword is every fixture user's password.
const testPassword = testkit.TestPassword

// panicText must never reach a client.
const panicText = "boom: secret internal detail 7f3a"

// env is one console over a real store and hasher, served over TLS the way
// the server wires it: request ids, panic recovery, then the console.
type env struct {
	t     *testing.T
	svc   *app.Service
	srv   *httptest.Server
	clock *testkit.Clock
	gate  *app.SetupGate
	// ca is the agent CA; nil unless envOpts.agents.
	ca *pki.CA
	// db is the store under the service, for fixtures.
	db *store.DB
	// kit is what testkit built, for a test that runs engines itself.
	kit *testkit.Env
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
	// syslog is web.Config.SyslogTarget.
	syslog string
	// api serves the JSON API under /api/ beside the console, over the
	// same service, as the server does.
	api bool
	// driver picks the store (testkit.Options.Driver; see BothDrivers).
	driver string
	// noEngine leaves out the background engine: executed requests stay
	// queued until the test runs an engine itself (env.kit).
	noEngine bool
	// oidc registers the OpenID Connect identity provider type and gives
	// the service a clock that follows real time, as ID tokens do.
	oidc bool
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	// The real registry (LDAP), a real vault and a real engine running in
	// the background; change request tests point connectors at a real slapd.
	clock := testkit.NewClock(time.Now().UTC())
	if o.oidc {
		clock = testkit.NewRealClock()
	}
	eng := &engine.Config{Poll: 100 * time.Millisecond}
	if o.noEngine {
		eng = nil
	}
	k := testkit.NewService(t, testkit.Options{
		Clock: clock,
		Drivers: func(reg *app.Registry, db *store.DB, clock *testkit.Clock) {
			ldap.Register(reg)
			ssoldap.Register(reg)
			if o.aws {
				aws.Register(reg)
			}
			if o.hosts {
				hosts.Register(reg, hosts.NewDriver(nil, db, clock.Now))
			}
			if o.oidc {
				ssooidc.Register(reg, nil)
			}
		},
		Agents:    o.agents,
		Engine:    eng,
		Configure: func(c *app.Config) { c.Limiter = o.limiter },
		Driver:    o.driver,
	})
	svc, clock, log := k.Service, k.Clock, k.Log
	e := &env{t: t, svc: svc, clock: clock, ca: k.CA, db: k.DB, kit: k}
	if o.setup {
		g, err := app.NewSetupGate(clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.gate = g
	}
	h, err := web.New(web.Config{Service: svc, Setup: e.gate, Secure: !o.insecure,
		CookieKey: bytes.Repeat([]byte{0x42}, 32), Logger: log, Clock: clock.Now, AgentURL: o.agentURL,
		SyslogTarget: o.syslog})
	if err != nil {
		t.Fatal(err)
	}
	outer := http.NewServeMux()
	outer.Handle("/", h)
	outer.HandleFunc("GET /test/panic", func(http.ResponseWriter, *http.Request) { panic(panicText) })
	if o.api {
		tokens, err := auth.NewTokens(testkit.RSAKey(t, 0), "nexplane", "nexplane-api", clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		outer.Handle("/api/", api.New(api.Config{Service: svc, Tokens: tokens, Logger: log}))
	}
	e.srv = testkit.Serve(t, outer, testkit.ServerOptions{TLS: !o.insecure, Headers: o.headers, Log: log,
		RenderPanic: web.RenderInternalError})
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
	return testkit.MustCreateUser(e.t, e.svc, email, role)
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
	form = e.withRevision(path, form)
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

// withRevision adds the request's current revision to an approve or reject
// form that gives none, as the page the approver read would.
func (e *env) withRevision(path string, form url.Values) url.Values {
	e.t.Helper()
	rest, ok := strings.CutPrefix(path, "/changes/")
	id, action, _ := strings.Cut(rest, "/")
	if !ok || (action != "approve" && action != "reject") || form.Has("revision") {
		return form
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return form
	}
	c, err := e.db.ChangeRequestByID(context.Background(), n)
	if err != nil {
		return form
	}
	out := url.Values{}
	for k, v := range form {
		out[k] = v
	}
	out.Set("revision", strconv.FormatInt(c.Revision, 10))
	return out
}

// refused asserts the PRG answer to a refused POST: 303 back to the page
// the form was on, whose next GET shows the reason as an error flash
// (role="alert") containing each of msgs. It returns that page.
func (e *env) refused(t *testing.T, c *http.Client, r response, back string, msgs ...string) response {
	t.Helper()
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != back {
		t.Fatalf("refusal: status %d location %q, want 303 to %s\n%s", r.StatusCode, r.Header.Get("Location"), back, r.body)
	}
	page := e.get(c, back)
	requireContains(t, page, append([]string{`role="alert" data-testid="flash-error"`}, msgs...)...)
	return page
}

// follow GETs the Location of a 303.
func (e *env) follow(c *http.Client, r response) response {
	e.t.Helper()
	if r.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("want 303, got %d\n%s", r.StatusCode, r.body)
	}
	return e.get(c, r.Header.Get("Location"))
}
