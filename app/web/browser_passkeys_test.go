package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
)

// TestBrowserPasskeys drives the passkey pages in Chromium with the DevTools
// WebAuthn virtual authenticator (CTAP2, internal, resident keys, user
// verification): register, sign in without a password, answer the second
// login step, remove with a fresh passkey assertion, a removed key refused,
// register again and remove with the password. The console is loaded as
// https://localhost:PORT: WebAuthn refuses IP addresses as RP IDs.
func TestBrowserPasskeys(t *testing.T) {
	ctx := newBrowser(t)
	e := newEnv(t, envOpts{headers: true})
	u := e.seedUser("grace@example.com", app.RoleOperator)
	base := strings.Replace(e.srv.URL, "127.0.0.1", "localhost", 1)

	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			// Refusals answer 4xx on purpose; CSP violations and script
			// errors are what this looks for.
			expected := strings.Contains(ev.Entry.Text, "the server responded with a status of 4")
			if ev.Entry.Level == log.EntryLevelError && !expected && !strings.Contains(ev.Entry.URL, "favicon.ico") {
				problems = append(problems, "console: "+ev.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	passwordStep := func() {
		t.Helper()
		step(t, ctx, "open login", chromedp.Navigate(base+"/login"))
		step(t, ctx, "type email", chromedp.SendKeys(byTestID("login-email"), u.Email))
		step(t, ctx, "type password", chromedp.SendKeys(byTestID("login-password"), testPassword))
		step(t, ctx, "submit login", chromedp.Click(byTestID("login-submit")))
	}
	logout := func() {
		t.Helper()
		step(t, ctx, "log out", chromedp.Click(byTestID("logout")))
		step(t, ctx, "login page", chromedp.WaitVisible(byTestID("login-form")))
	}
	register := func(name string) {
		t.Helper()
		step(t, ctx, "passkeys page", chromedp.Navigate(base+"/account/passkeys"))
		step(t, ctx, "type name", chromedp.SendKeys(byTestID("passkey-name"), name))
		step(t, ctx, "register", chromedp.Click(byTestID("passkey-register")))
	}
	rowNames := func() string {
		v, _ := peek(ctx, chromedp.Evaluate[string](
			`Array.from(document.querySelectorAll('[data-testid="passkey-row-name"]')).map(e => e.textContent).join(",")`))
		return v
	}
	passkeyError := func(what string) string {
		t.Helper()
		var msg string
		waitFor(t, ctx, what, func() bool {
			v, ok := peek(ctx, chromedp.Evaluate[string](
				`(e => e && !e.hidden ? e.textContent : "")(document.querySelector('[data-testid="passkey-error"]'))`))
			msg = v
			return ok && v != ""
		})
		return msg
	}

	// Without a passkey the password alone logs in; register one.
	passwordStep()
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	register("Laptop")
	waitFor(t, ctx, "the passkey listed", func() bool { return rowNames() == "Laptop" })
	if fl := step(t, ctx, "flash", chromedp.Text(".flash")); !strings.Contains(fl, "Laptop") {
		t.Errorf("flash after registering = %q", fl)
	}
	// A second passkey of the same name is refused before the prompt.
	register("Laptop")
	if msg := passkeyError("duplicate name refused"); !strings.Contains(msg, "already have a passkey with this name") {
		t.Errorf("duplicate name: %q", msg)
	}
	logout()

	// Passwordless sign-in with the discoverable credential.
	step(t, ctx, "open login", chromedp.Navigate(base+"/login"))
	step(t, ctx, "sign in with a passkey", chromedp.Click(byTestID("passkey-login")))
	step(t, ctx, "dashboard after passkey", chromedp.WaitVisible(byTestID("dashboard")))
	if got := step(t, ctx, "who", chromedp.Text(byTestID("current-user-email"))); got != u.Email {
		t.Fatalf("signed in as %q", got)
	}
	logout()

	// The password now leads to the second step, which offers the passkey.
	passwordStep()
	step(t, ctx, "second step", chromedp.WaitVisible(byTestID("mfa-login-form")))
	step(t, ctx, "use a passkey", chromedp.Click(byTestID("mfa-passkey")))
	step(t, ctx, "dashboard after second step", chromedp.WaitVisible(byTestID("dashboard")))

	// Remove it, confirming with a fresh assertion; the authenticator
	// keeps the credential, which the server must now refuse.
	step(t, ctx, "passkeys page", chromedp.Navigate(base+"/account/passkeys"))
	if used := step(t, ctx, "last used", chromedp.Text(byTestID("passkey-row-last-used"))); used == "never" {
		t.Errorf("last used = %q after two sign-ins", used)
	}
	step(t, ctx, "remove with passkey", chromedp.Click(byTestID("passkey-remove-with-passkey")))
	step(t, ctx, "no passkeys left", chromedp.WaitVisible(byTestID("passkeys-empty")))
	logout()
	step(t, ctx, "open login", chromedp.Navigate(base+"/login"))
	step(t, ctx, "sign in with the removed passkey", chromedp.Click(byTestID("passkey-login")))
	if msg := passkeyError("removed passkey refused"); !strings.Contains(msg, "could not be verified") {
		t.Errorf("removed passkey: %q", msg)
	}
	if _, ok := peek(ctx, chromedp.WaitVisible(byTestID("dashboard"))); ok {
		t.Fatal("a removed passkey signed in")
	}

	// Register again (the password logs in alone once more) and remove it
	// with the current password; a wrong one is refused.
	passwordStep()
	step(t, ctx, "dashboard again", chromedp.WaitVisible(byTestID("dashboard")))
	register("Security key")
	waitFor(t, ctx, "the new passkey listed", func() bool { return rowNames() == "Security key" })
	step(t, ctx, "wrong password", chromedp.SendKeys(byTestID("passkey-remove-password"), "not the password"))
	step(t, ctx, "remove", chromedp.Click(byTestID("passkey-remove")))
	step(t, ctx, "wrong password refused", chromedp.WaitVisible(byTestID("flash-error")))
	step(t, ctx, "password", chromedp.SendKeys(byTestID("passkey-remove-password"), testPassword))
	step(t, ctx, "remove", chromedp.Click(byTestID("passkey-remove")))
	step(t, ctx, "removed", chromedp.WaitVisible(byTestID("passkeys-empty")))

	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Limit: app.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Event]++
		var p map[string]any
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if ev.Event == "auth.login_succeeded" {
			methods = append(methods, p["method"].(string))
		}
		if ev.Event == "auth.login_failed" && p["reason"] != "unknown_passkey" {
			t.Errorf("unexpected login failure: %s", ev.Payload)
		}
	}
	if count["passkey.registered"] != 2 || count["passkey.removed"] != 2 || count["auth.login_failed"] != 1 {
		t.Errorf("audit counts: %v", count)
	}
	if got := strings.Join(methods, ","); got != "password,password+passkey,passkey,password" {
		t.Errorf("login methods, newest first: %s", got)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}
