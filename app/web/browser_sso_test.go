package web_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	ssooidc "github.com/nexplane/nexplane/app/sso/oidc"
	"github.com/nexplane/nexplane/app/sso/oidc/oidctest"
)

// ssoProvider adds an identity provider pointing at op, as an admin would.
func (e *env) ssoProvider(op *oidctest.Server, admin *app.User) string {
	e.t.Helper()
	p, err := e.svc.CreateIdentityProvider(e.t.Context(), app.UserActor(admin), app.IdentityProviderInput{
		Name: "Corporate SSO", Type: ssooidc.Type,
		Config:  json.RawMessage(`{"issuer":"` + op.Issuer + `","client_id":"` + oidctest.ClientID + `"}`),
		Secrets: json.RawMessage(`{"client_secret":"` + oidctest.ClientSecret + `"}`),
		Rules:   []app.RoleRule{{Group: "nexplane-admins", Role: app.RoleAdmin}, {Group: "ops", Role: app.RoleOperator}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return strconv.FormatInt(p.ID, 10)
}

// Single sign-on in Chromium against a real OpenID provider: the login
// page's button, a just-in-time account with the mapped role, a group
// change demoting at the next login, and an admin's "try login" dry run
// that shows the claims and the role without signing anyone in.
func TestBrowserSSO(t *testing.T) {
	ctx := newBrowser(t)
	e := newEnv(t, envOpts{headers: true, oidc: true})
	admin := e.seedUser("admin@example.com", app.RoleAdmin)
	op := oidctest.Start(t)
	id := e.ssoProvider(op, admin)
	op.SetUser(oidctest.User{Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true, Name: "Alice",
		Groups: []string{"nexplane-admins"}})
	op.SignInAs("sub-alice")

	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step(t, ctx, "open login", chromedp.Navigate(e.srv.URL+"/login"))
	step(t, ctx, "sso button", chromedp.Click(byTestID("sso-login-"+id)))
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	if who := step(t, ctx, "current user", chromedp.Text(byTestID("current-user-email"))); who != "alice@example.com" {
		t.Fatalf("signed in as %q", who)
	}
	if role := step(t, ctx, "role", chromedp.Text(byTestID("current-user-role"))); !strings.EqualFold(role, "admin") {
		t.Fatalf("JIT role %q, want admin", role)
	}

	// The provider moves Alice to ops: operator at her next login.
	op.SetUser(oidctest.User{Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true, Groups: []string{"ops"}})
	step(t, ctx, "log out", chromedp.Click(byTestID("logout")))
	step(t, ctx, "login page", chromedp.WaitVisible(byTestID("sso-login-"+id)))
	step(t, ctx, "sso again", chromedp.Click(byTestID("sso-login-"+id)))
	step(t, ctx, "dashboard again", chromedp.WaitVisible(byTestID("dashboard")))
	if role := step(t, ctx, "role again", chromedp.Text(byTestID("current-user-role"))); !strings.EqualFold(role, "operator") {
		t.Fatalf("after the group change: role %q, want operator", role)
	}

	// The admin tries the provider: Bob's claims, no sign-in as Bob.
	op.SetUser(oidctest.User{Subject: "sub-bob", Email: "bob@example.com", EmailVerified: true, Groups: []string{"ops", "wiki"}})
	op.SignInAs("sub-bob")
	step(t, ctx, "log out alice", chromedp.Click(byTestID("logout")))
	step(t, ctx, "type email", chromedp.SendKeys(byTestID("login-email"), "admin@example.com"))
	step(t, ctx, "type password", chromedp.SendKeys(byTestID("login-password"), testPassword))
	step(t, ctx, "submit login", chromedp.Click(byTestID("login-submit")))
	step(t, ctx, "admin dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	step(t, ctx, "open provider", chromedp.Navigate(e.srv.URL+"/settings/identity-providers/"+id))
	step(t, ctx, "try login", chromedp.Click(byTestID("idp-try")))
	step(t, ctx, "try result", chromedp.WaitVisible(byTestID("try-result")))
	for tid, want := range map[string]string{"try-role": "operator", "try-rule": "2", "try-outcome": "create",
		"try-subject": "sub-bob", "try-groups": "ops, wiki"} {
		if got := step(t, ctx, tid, chromedp.Text(byTestID(tid))); strings.TrimSpace(got) != want {
			t.Errorf("%s = %q, want %q", tid, got, want)
		}
	}
	if claims := step(t, ctx, "claims", chromedp.Text(byTestID("try-claims"))); !strings.Contains(claims, `"email": "bob@example.com"`) {
		t.Errorf("claims shown: %s", claims)
	}
	if who := step(t, ctx, "still the admin", chromedp.Text(byTestID("current-user-email"))); who != "admin@example.com" {
		t.Fatalf("the dry run signed in %q", who)
	}
	if _, err := e.svc.Store().UserByEmail(t.Context(), "bob@example.com"); app.ErrCode(err) != app.ENOTFOUND {
		t.Fatalf("the dry run created Bob: %v", err)
	}
}

// The callback over HTTP: a replayed state and a callback in a browser
// that did not start the login are refused with a readable page, a
// tampered ID token too; the login page lists only enabled providers.
func TestSSOCallbackRefusals(t *testing.T) {
	e := newEnv(t, envOpts{oidc: true})
	admin := e.seedUser("admin@example.com", app.RoleAdmin)
	op := oidctest.Start(t)
	id := e.ssoProvider(op, admin)
	op.SetUser(oidctest.User{Subject: "sub-carl", Email: "carl@example.com", EmailVerified: true, Groups: []string{"ops"}})
	op.SignInAs("sub-carl")

	// toProvider starts a login in c and returns the callback path the
	// provider sends the browser back to.
	toProvider := func(c *http.Client) string {
		t.Helper()
		r := e.post(c, "/login/sso/"+id, nil)
		m := continueRE.FindStringSubmatch(r.body)
		if r.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("begin: %d %s", r.StatusCode, r.body)
		}
		var back string
		follow := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), e.srv.URL) {
				back = req.URL.RequestURI()
				return http.ErrUseLastResponse
			}
			return nil
		}}
		resp, err := follow.Get(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !strings.HasPrefix(back, "/login/sso/"+id+"/callback?") {
			t.Fatalf("provider sent the browser to %q", back)
		}
		return back
	}

	c := e.client()
	cb := toProvider(c)
	if r := e.get(c, cb); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("callback: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	if r := e.get(c, "/"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "carl@example.com") {
		t.Fatalf("dashboard after sso: %d", r.StatusCode)
	}
	if r := e.get(c, cb); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "used already") {
		t.Fatalf("replayed callback: %d %s", r.StatusCode, r.body)
	}

	// Another browser (no binding cookie) brings back a valid state.
	cb = toProvider(e.client())
	if r := e.get(e.client(), cb); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "another browser") {
		t.Fatalf("callback in another browser: %d %s", r.StatusCode, r.body)
	}

	c = e.client()
	op.ForgeNext(t)
	if r := e.get(c, toProvider(c)); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "signature") {
		t.Fatalf("forged ID token: %d %s", r.StatusCode, r.body)
	}

	// The user's page says how Carl signs in; a reset link is offered
	// only once an admin allows him a local password.
	carl, err := e.svc.Store().UserByEmail(t.Context(), "carl@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ac := e.client()
	e.login(ac, "admin@example.com")
	page := "/users/" + strconv.FormatInt(carl.ID, 10)
	if r := e.get(ac, page); !strings.Contains(r.body, `data-testid="user-sign-in-provider">Corporate SSO`) ||
		strings.Contains(r.body, "user-send-reset") {
		t.Fatalf("SSO user's page: %s", r.body)
	}
	if r := e.post(ac, page+"/sign-in", url.Values{"local_password_allowed": {"true"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("allow a local password: %d %s", r.StatusCode, r.body)
	}
	if r := e.get(ac, page); !strings.Contains(r.body, "user-send-reset") {
		t.Fatal("no reset link offered once a local password is allowed")
	}

	if r := e.get(e.client(), "/login"); !strings.Contains(r.body, `data-testid="sso-login-`+id+`"`) {
		t.Fatal("the login page lacks the provider's button")
	}
	off := false
	if _, err := e.svc.UpdateIdentityProvider(t.Context(), app.UserActor(admin), mustAtoi(t, id), app.IdentityProviderPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if r := e.get(e.client(), "/login"); strings.Contains(r.body, "sso-login-") {
		t.Fatal("the login page offers a disabled provider")
	}
	if r := e.post(e.client(), "/login/sso/"+id, url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("begin through a disabled provider: %d", r.StatusCode)
	}
}

// continueRE finds the provider URL on the page that sends the browser on.
var continueRE = regexp.MustCompile(`<a href="([^"]+)" data-testid="sso-continue"`)

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
