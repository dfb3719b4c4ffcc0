package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/web"
	"github.com/nexplane/nexplane/views"
)

func TestLoginCookieAttributes(t *testing.T) {
	tests := []struct {
		name     string
		insecure bool
		cookie   string
		secure   bool
	}{
		{"tls", false, "__Host-nexplane_session", true},
		{"insecure http drops the __Host- prefix", true, "nexplane_session", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{insecure: tc.insecure})
			e.seedUser("admin@example.com", app.RoleAdmin)
			c := e.client()
			r := e.login(c, "admin@example.com")
			ck := sessionCookie(t, r, tc.cookie)
			if ck.Secure != tc.secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode ||
				ck.Path != "/" || ck.Domain != "" || ck.MaxAge != 0 || !ck.Expires.IsZero() {
				t.Fatalf("cookie attributes: %+v (raw %q)", ck, r.Header.Get("Set-Cookie"))
			}
			if d := e.get(c, "/"); d.StatusCode != http.StatusOK {
				t.Fatalf("dashboard after login: %d", d.StatusCode)
			} else {
				requireContains(t, d, `data-testid="dashboard"`, "admin@example.com", `data-testid="card-agents"`)
			}
		})
	}
}

func TestLoginFailures(t *testing.T) {
	e := newEnv(t, envOpts{limiter: app.NewLoginLimiter(app.LoginLimitConfig{PairMaxFailures: 3})})
	e.seedUser("ops@example.com", app.RoleOperator)
	disabled := e.seedUser("gone@example.com", app.RoleViewer)
	f := true
	if _, err := e.svc.UpdateUser(context.Background(), app.SystemActor("test"), disabled.ID, app.UserPatch{Disabled: &f}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, email, password string
	}{
		{"wrong password", "ops@example.com", "not-the-right-password"},
		{"unknown user", "nobody@example.com", testPassword},
		{"disabled user", "gone@example.com", testPassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(e.client(), "/login", url.Values{"email": {tc.email}, "password": {tc.password}})
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d", r.StatusCode)
			}
			requireContains(t, r, "Email or password is incorrect.", `value="`+tc.email+`"`)
			if strings.Contains(r.body, tc.password) {
				t.Fatal("the password was echoed back")
			}
			if len(r.Cookies()) != 0 {
				t.Fatalf("failed login set cookies: %v", r.Cookies())
			}
		})
	}
	t.Run("rate limited", func(t *testing.T) {
		var r response
		for range 5 {
			r = e.post(e.client(), "/login", url.Values{"email": {"ops@example.com"}, "password": {"wrong-wrong-wrong"}})
		}
		if r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", r.StatusCode)
		}
		requireContains(t, r, "Too many failed login attempts")
		if r.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	})
}

func TestLogoutKillsSessionServerSide(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	ck := sessionCookie(t, e.login(c, "admin@example.com"), "__Host-nexplane_session")

	if r := e.getWithCookie("/", ck); r.StatusCode != http.StatusOK {
		t.Fatalf("cookie should work before logout: %d", r.StatusCode)
	}
	r := e.post(c, "/logout", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if cleared := sessionCookie(t, r, "__Host-nexplane_session"); cleared.MaxAge >= 0 {
		t.Fatalf("logout did not clear the cookie: %+v", cleared)
	}
	// A copy of the old cookie is dead: the session is gone on the server.
	requireLoggedOut(t, e.getWithCookie("/", ck))
}

func TestLoginRenewsSession(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	first := sessionCookie(t, e.login(c, "admin@example.com"), "__Host-nexplane_session")
	second := sessionCookie(t, e.login(c, "admin@example.com"), "__Host-nexplane_session")
	if first.Value == second.Value {
		t.Fatal("second login reused the session cookie")
	}
	requireLoggedOut(t, e.getWithCookie("/", first))
	if r := e.getWithCookie("/", second); r.StatusCode != http.StatusOK {
		t.Fatalf("new cookie: %d", r.StatusCode)
	}
}

func TestUserChangesKillSessions(t *testing.T) {
	tests := []struct {
		name string
		form url.Values
	}{
		{"disable", url.Values{"disabled": {"true"}}},
		{"role change", url.Values{"role": {"approver"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOpts{})
			e.seedUser("admin@example.com", app.RoleAdmin)
			victim := e.seedUser("ops@example.com", app.RoleOperator)
			admin, ops := e.client(), e.client()
			e.login(admin, "admin@example.com")
			e.login(ops, "ops@example.com")
			if r := e.get(ops, "/"); r.StatusCode != http.StatusOK {
				t.Fatalf("ops dashboard: %d", r.StatusCode)
			}
			r := e.post(admin, "/users/"+strconv.FormatInt(victim.ID, 10), tc.form)
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("update: %d %s", r.StatusCode, r.body)
			}
			requireLoggedOut(t, e.get(ops, "/"))
			if r := e.get(admin, "/users"); r.StatusCode != http.StatusOK {
				t.Fatalf("admin still logged in: %d", r.StatusCode)
			} else {
				requireContains(t, r, `data-testid="flash"`, "their sessions have ended")
			}
		})
	}
}

func TestSessionTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		e.seedUser("admin@example.com", app.RoleAdmin)
		c := e.client()
		e.login(c, "admin@example.com")
		e.clock.Advance(app.SessionIdleTimeout - time.Minute)
		if r := e.get(c, "/"); r.StatusCode != http.StatusOK {
			t.Fatalf("within idle timeout: %d", r.StatusCode)
		}
		e.clock.Advance(app.SessionIdleTimeout + time.Minute)
		requireLoggedOut(t, e.get(c, "/"))
	})
	t.Run("absolute", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		e.seedUser("admin@example.com", app.RoleAdmin)
		c := e.client()
		e.login(c, "admin@example.com")
		// Stay active (never idle) until the absolute limit passes.
		step := app.SessionIdleTimeout - 5*time.Minute
		elapsed := time.Duration(0)
		for elapsed+step < app.SessionAbsoluteTimeout {
			e.clock.Advance(step)
			elapsed += step
			if r := e.get(c, "/"); r.StatusCode != http.StatusOK {
				t.Fatalf("active session died after %v: %d", elapsed, r.StatusCode)
			}
		}
		e.clock.Advance(app.SessionAbsoluteTimeout - elapsed + time.Minute)
		requireLoggedOut(t, e.get(c, "/"))
	})
}

func TestUnauthenticatedRedirects(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, path := range []string{"/", "/users", "/audit", "/audit/1", "/changes", "/assets", "/connectors", "/agents"} {
		t.Run(path, func(t *testing.T) {
			r := e.get(e.client(), path)
			requireLoggedOut(t, r)
			r = e.get(e.client(), path, "HX-Request", "true")
			if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("HX-Redirect"), "/login") {
				t.Fatalf("htmx: %d HX-Redirect=%q", r.StatusCode, r.Header.Get("HX-Redirect"))
			}
		})
	}
	t.Run("next survives login", func(t *testing.T) {
		e.seedUser("admin@example.com", app.RoleAdmin)
		c := e.client()
		r := e.get(c, "/audit?event=user.created")
		loc := r.Header.Get("Location")
		u, _ := url.Parse(loc)
		next := u.Query().Get("next")
		if next != "/audit?event=user.created" {
			t.Fatalf("next = %q", next)
		}
		r = e.post(c, "/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}, "next": {next}})
		if r.Header.Get("Location") != next {
			t.Fatalf("after login: %q", r.Header.Get("Location"))
		}
		r = e.post(c, "/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}, "next": {"//evil.example/x"}})
		if r.Header.Get("Location") != "/" {
			t.Fatalf("open redirect: %q", r.Header.Get("Location"))
		}
	})
}

func TestNonAdminForbidden(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	for _, role := range []app.Role{app.RoleOperator, app.RoleApprover, app.RoleViewer} {
		t.Run(string(role), func(t *testing.T) {
			email := string(role) + "@example.com"
			e.seedUser(email, role)
			c := e.client()
			e.login(c, email)
			if r := e.get(c, "/users"); r.StatusCode != http.StatusForbidden {
				t.Fatalf("GET /users: %d", r.StatusCode)
			} else {
				requireContains(t, r, "cannot manage users; an admin can.")
			}
			newEmail := "new-" + email
			r := e.post(c, "/users", url.Values{"email": {newEmail}, "password": {testPassword}, "role": {"admin"}})
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("POST /users: %d", r.StatusCode)
			}
			e.refused(t, c, e.post(c, "/users/1", url.Values{"role": {"viewer"}}), "/users", "Your role (")
			if _, err := e.svc.Store().UserByEmail(context.Background(), newEmail); app.ErrCode(err) != app.ENOTFOUND {
				t.Fatalf("user was created anyway: %v", err)
			}
			// The nav hides what the role cannot use.
			if d := e.get(c, "/"); strings.Contains(d.body, `data-testid="nav-users"`) {
				t.Fatal("non-admin sees the Users link")
			}
		})
	}
}

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	admin := e.client()
	e.login(admin, "admin@example.com")
	tests := []struct {
		name, path string
		form       url.Values
		client     *http.Client
		hdr        []string
	}{
		{"users sec-fetch-site", "/users", url.Values{"email": {"csrf1@example.com"}, "password": {testPassword}, "role": {"admin"}}, admin, []string{"Sec-Fetch-Site", "cross-site"}},
		{"users origin", "/users", url.Values{"email": {"csrf2@example.com"}, "password": {testPassword}, "role": {"admin"}}, admin, []string{"Origin", "https://evil.example"}},
		{"login sec-fetch-site", "/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}}, e.client(), []string{"Sec-Fetch-Site", "cross-site"}},
		{"login origin", "/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}}, e.client(), []string{"Origin", "https://evil.example"}},
		{"role change", "/users/1", url.Values{"role": {"viewer"}}, admin, []string{"Sec-Fetch-Site", "cross-site"}},
		{"logout", "/logout", nil, admin, []string{"Origin", "https://evil.example"}},
	}
	ctx := context.Background()
	before, err := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(tc.client, tc.path, tc.form, tc.hdr...)
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d", r.StatusCode)
			}
			requireContains(t, r, "came from another site")
			if len(r.Cookies()) != 0 {
				t.Fatalf("refused request set cookies: %v", r.Cookies())
			}
		})
	}
	// Nothing changed: no new users, the admin is still an admin and still
	// logged in, and the audit log has no new record.
	after, err := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Events[0].ID != before.Events[0].ID {
		t.Fatalf("audit log grew: %s", after.Events[0].Event)
	}
	if r := e.get(admin, "/users"); r.StatusCode != http.StatusOK || strings.Contains(r.body, "csrf1@") {
		t.Fatalf("users page after CSRF attempts: %d", r.StatusCode)
	}
	// A same-origin browser request still works.
	r := e.post(admin, "/users", url.Values{"email": {"ok@example.com"}, "password": {testPassword}, "role": {"viewer"}},
		"Sec-Fetch-Site", "same-origin")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin create: %d %s", r.StatusCode, r.body)
	}
}

func TestAuthenticatedPagesNoStore(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	e.login(c, "admin@example.com")
	for _, path := range []string{"/", "/users", "/audit", "/audit/1", "/changes", "/assets", "/connectors", "/agents", "/no-such-page"} {
		t.Run(path, func(t *testing.T) {
			r := e.get(c, path)
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Fatalf("Cache-Control %q (status %d)", got, r.StatusCode)
			}
			if got := r.Header.Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Fatalf("Content-Type %q", got)
			}
		})
	}
	if r := e.get(c, "/agents"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `data-testid="agents-empty"`) {
		t.Errorf("/agents: %d", r.StatusCode)
	}
	for path, testid := range map[string]string{"/changes": "changes-filter", "/connectors": "connector-new", "/assets": "assets-filter"} {
		if r := e.get(c, path); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `data-testid="`+testid+`"`) {
			t.Errorf("%s: %d", path, r.StatusCode)
		}
	}
	if r := e.get(c, "/no-such-page"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d", r.StatusCode)
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.client()
	r := e.get(c, views.AssetPath("htmx.min.js"))
	if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("htmx: %d %q %q", r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Cache-Control"))
	}
	if r := e.get(c, "/static/app.css"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("unhashed path: %d", r.StatusCode)
	}
	// The login page references only our own checksummed assets.
	login := e.get(c, "/login")
	requireContains(t, login, views.AssetPath("app.css"), views.AssetPath("htmx.min.js"), `name="htmx-config"`)
	if regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]+</script>|\sstyle=|https?://`).MatchString(login.body) {
		t.Fatalf("login page has inline script/style or an external URL:\n%s", login.body)
	}
}

func TestCreateUserErrorsKeepInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	e.login(c, "admin@example.com")
	tests := []struct {
		name   string
		form   url.Values
		status int
		msg    string
	}{
		{"bad role", url.Values{"email": {"new@example.com"}, "role": {"root"}}, 400, "Unknown role"},
		{"bad email", url.Values{"email": {"not-an-email"}, "role": {"viewer"}}, 400, "is not a valid address"},
		{"taken email", url.Values{"email": {"admin@example.com"}, "role": {"operator"}}, 409, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(c, "/users", tc.form)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tc.status, r.body)
			}
			requireContains(t, r, `data-testid="user-create-error"`, tc.msg,
				`value="`+tc.form.Get("email")+`"`, `data-testid="users-table"`)
			if tc.form.Get("role") == "operator" {
				requireContains(t, r, `<option value="operator" selected>`)
			}
		})
	}
	t.Run("success", func(t *testing.T) {
		r := e.post(c, "/users", url.Values{"email": {"New.Person@Example.com"}, "role": {"approver"}})
		u, err := e.svc.Store().UserByEmail(context.Background(), "new.person@example.com")
		if err != nil {
			t.Fatal(err)
		}
		linkPage := fmt.Sprintf("/users/%d/link", u.ID)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != linkPage {
			t.Fatalf("create: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if strings.Contains(r.body, "/invite/") {
			t.Fatal("the POST response carries the invitation link")
		}
		// The link shows once, on its own page.
		reveal := e.get(c, linkPage)
		requireContains(t, reveal, "Invitation for new.person@example.com", `data-testid="link-reveal-url"`, "/invite/")
		if again := e.get(c, linkPage); again.StatusCode != http.StatusNotFound || strings.Contains(again.body, "/invite/") {
			t.Fatalf("second reveal: %d", again.StatusCode)
		}
		page := e.get(c, "/users")
		requireContains(t, page, `data-user-email="new.person@example.com"`, `data-testid="user-pending"`)
	})
	t.Run("last admin cannot be demoted", func(t *testing.T) {
		e.refused(t, c, e.post(c, "/users/1", url.Values{"role": {"viewer"}}), "/users", "last active admin")
	})
}

func TestSetupFlow(t *testing.T) {
	e := newEnv(t, envOpts{setup: true})
	token := e.gate.Token()
	c := e.client()

	for _, path := range []string{"/setup", "/setup?token=wrong"} {
		r := e.get(c, path)
		if r.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		requireContains(t, r, "This setup link is invalid or has expired")
	}
	r := e.get(c, "/setup?token="+url.QueryEscape(token))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("setup form: %d", r.StatusCode)
	}
	requireContains(t, r, `data-testid="setup-email"`, `data-testid="setup-confirm"`)

	form := url.Values{"token": {token}, "email": {"first@example.com"}, "password": {testPassword}, "confirm": {"something-else-entirely"}}
	if r := e.post(c, "/setup", form); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("mismatch: %d", r.StatusCode)
	} else {
		requireContains(t, r, "The passwords do not match.", `value="first@example.com"`)
	}
	form.Set("confirm", testPassword)
	r = e.post(c, "/setup", form)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("setup: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	if d := e.get(c, "/users"); d.StatusCode != http.StatusOK {
		t.Fatalf("first admin not logged in: %d", d.StatusCode)
	} else {
		requireContains(t, d, "first@example.com")
	}

	// Only once: the gate is closed and a user exists. The spent link,
	// used again with any token, says setup is done and leads to login.
	form.Set("email", "second@example.com")
	for _, r := range []response{e.post(e.client(), "/setup", form), e.get(e.client(), "/setup?token="+url.QueryEscape(token)),
		e.get(e.client(), "/setup?token=wrong")} {
		if r.StatusCode != http.StatusGone {
			t.Fatalf("setup after setup: %d", r.StatusCode)
		}
		requireContains(t, r, `data-testid="setup-done"`, "Setup is done", `href="/login"`)
		if strings.Contains(r.body, `data-testid="setup-form"`) {
			t.Fatal("the setup form is offered after setup")
		}
	}
	users, err := e.svc.ListUsers(context.Background(), app.SystemActor("test"))
	if err != nil || len(users) != 1 {
		t.Fatalf("users after setup: %d %v", len(users), err)
	}
}

func TestSetupLinkExpires(t *testing.T) {
	e := newEnv(t, envOpts{setup: true})
	e.clock.Advance(app.SetupTTL + time.Second)
	r := e.get(e.client(), "/setup?token="+url.QueryEscape(e.gate.Token()))
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("expired link: %d", r.StatusCode)
	}
	requireContains(t, r, "This setup link is invalid or has expired")
}

func TestPanicShowsGeneric500(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.get(e.client(), "/test/panic")
	if r.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d", r.StatusCode)
	}
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no request id")
	}
	requireContains(t, r, `data-testid="error-request-id">`+id+"<", "Something went wrong on our side")
	if strings.Contains(r.body, "boom") || strings.Contains(r.body, "secret") || strings.Contains(r.body, "goroutine") {
		t.Fatalf("500 page leaks the panic:\n%s", r.body)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	svc := app.NewService(app.Config{})
	tests := []struct {
		name string
		cfg  web.Config
	}{
		{"no service", web.Config{CookieKey: make([]byte, 32)}},
		{"short key", web.Config{Service: svc, CookieKey: make([]byte, 31)}},
	}
	for _, tc := range tests {
		if _, err := web.New(tc.cfg); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// TestLoginNextStaysOnSite: whether the user is logged in already (GET) or
// logs in (POST), a next that a browser would resolve off-site sends them
// to / instead.
func TestLoginNextStaysOnSite(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	e.login(c, "admin@example.com")
	for _, raw := range []string{"/%09/evil.example", "//evil.example", "/%5Cevil.example", "/%0d%0a//evil.example",
		"/.//evil.example", "https:evil.example", "%EF%BC%8F%EF%BC%8Fevil.example", "/login%3Fnext%3D//evil.example"} {
		t.Run(raw, func(t *testing.T) {
			r := e.get(c, "/login?next="+raw)
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
				t.Fatalf("GET: %d Location %q", r.StatusCode, r.Header.Get("Location"))
			}
			next, err := url.QueryUnescape(raw)
			if err != nil {
				t.Fatal(err)
			}
			r = e.post(e.client(), "/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}, "next": {next}})
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
				t.Fatalf("POST: %d Location %q", r.StatusCode, r.Header.Get("Location"))
			}
		})
	}
	r := e.get(c, "/login?next="+url.QueryEscape("/changes/3?x=1#y"))
	if r.Header.Get("Location") != "/changes/3?x=1#y" {
		t.Fatalf("internal next: Location %q", r.Header.Get("Location"))
	}
}
