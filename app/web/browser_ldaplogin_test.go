package web_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	ssoldap "github.com/nexplane/nexplane/app/sso/ldapauth"
)

// ldapIdentityProvider adds an LDAP identity provider on dir (StartTLS,
// its CA pinned, groups by group search): members of admins become admins,
// everyone else gets defaultRole ("" refuses them).
func (e *env) ldapIdentityProvider(t *testing.T, dir *ldaptest.Server, defaultRole app.Role) *app.IdentityProvider {
	return e.ldapIdentityProviderAt(t, dir, dir.URL, defaultRole)
}

// ldapIdentityProviderAt is ldapIdentityProvider with the directory at addr.
func (e *env) ldapIdentityProviderAt(t *testing.T, dir *ldaptest.Server, addr string, defaultRole app.Role) *app.IdentityProvider {
	t.Helper()
	admin, err := e.svc.Store().UserByEmail(t.Context(), "admin@example.com")
	if app.ErrCode(err) == app.ENOTFOUND {
		admin, err = e.seedUser("admin@example.com", app.RoleAdmin), nil
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := json.Marshal(map[string]any{"url": addr, "start_tls": true, "ca_pem": string(dir.CAPEM),
		"bind_dn": dir.BindDN, "base_dn": dir.UserBase, "user_filter": "(uid=%s)",
		"group_base_dn": dir.GroupBase, "group_filter": "(&(objectClass=groupOfNames)(member=%s))"})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := json.Marshal(map[string]string{"bind_password": dir.BindPassword})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.svc.CreateIdentityProvider(t.Context(), app.UserActor(admin), app.IdentityProviderInput{
		Name: "Company directory", Type: ssoldap.Type, Config: cfg, Secrets: secrets,
		Rules: []app.RoleRule{{Group: "admins", Role: app.RoleAdmin}}, DefaultRole: defaultRole})
	if err != nil {
		t.Fatalf("create ldap identity provider: %v", err)
	}
	return p
}

// Directory sign-in in Chromium against a real slapd: the login page shows
// the provider's username and password form; a wrong password comes back
// with the message and the username kept; the right one lands on the
// dashboard as a just-in-time account with the mapped role.
func TestBrowserLDAPLogin(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true})
	tid := "sso-login-" + strconv.FormatInt(e.ldapIdentityProvider(t, dir, "").ID, 10)

	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step(t, ctx, "open login", chromedp.Navigate(e.srv.URL+"/login"))
	if legend := step(t, ctx, "provider form", chromedp.Text(byTestID(tid+"-form"))); !strings.Contains(legend, "Company directory") {
		t.Fatalf("the provider's form says %q", legend)
	}
	step(t, ctx, "type username", chromedp.SendKeys(byTestID(tid+"-username"), "alice"))
	step(t, ctx, "type wrong password", chromedp.SendKeys(byTestID(tid+"-password"), "not her password"))
	step(t, ctx, "submit", chromedp.Click(byTestID(tid)))
	if msg := step(t, ctx, "refusal", chromedp.Text(byTestID("login-error"))); !strings.Contains(msg, "sername or password is incorrect") {
		t.Fatalf("refusal says %q", msg)
	}
	if kept := step(t, ctx, "username kept", chromedp.Value(byTestID(tid+"-username"))); kept != "alice" {
		t.Fatalf("username after the refusal = %q, want alice", kept)
	}

	step(t, ctx, "type password", chromedp.SendKeys(byTestID(tid+"-password"), dir.UserPasswords["alice"]))
	step(t, ctx, "submit again", chromedp.Click(byTestID(tid)))
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	if who := step(t, ctx, "current user", chromedp.Text(byTestID("current-user-email"))); who != "alice@example.org" {
		t.Fatalf("signed in as %q", who)
	}
	if role := step(t, ctx, "role", chromedp.Text(byTestID("current-user-role"))); !strings.EqualFold(role, "admin") {
		t.Fatalf("JIT role %q, want admin (alice is in admins)", role)
	}
}

// A directory nobody answers at is the service's trouble, not the user's:
// 503 with a readable message on the login page, never a 500.
func TestLDAPLoginDirectoryDown(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "ldap://" + ln.Addr().String()
	ln.Close()
	p := e.ldapIdentityProviderAt(t, dir, closed, app.RoleViewer)
	r := e.post(e.client(), "/login/sso/"+strconv.FormatInt(p.ID, 10),
		url.Values{"username": {"alice"}, "password": {dir.UserPasswords["alice"]}})
	if r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503\n%s", r.StatusCode, r.body)
	}
	requireContains(t, r, `role="alert"`)
	requireContains(t, r, `value="alice"`)
}
