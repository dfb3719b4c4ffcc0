package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/nexplane/nexplane/app"
)

// TestBrowserMFA: under mfa_required=everyone a user is forced to enrol at
// login; they scan (here: read) the secret, confirm a code, get recovery
// codes once, and from then on log in with a code or a recovery code.
func TestBrowserMFA(t *testing.T) {
	ctx := newBrowser(t)
	e := newEnv(t, envOpts{headers: true})
	u := e.seedUser("ada@example.com", app.RoleOperator)
	if _, err := e.svc.SetMFAPolicy(context.Background(), app.SystemActor("test"), "everyone"); err != nil {
		t.Fatal(err)
	}

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
			// Refused codes answer 400/401 on purpose; CSP violations and
			// script errors are what this looks for.
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

	passwordStep := func() {
		t.Helper()
		step(t, ctx, "open login", chromedp.Navigate(e.srv.URL+"/login"))
		step(t, ctx, "type email", chromedp.SendKeys(byTestID("login-email"), u.Email))
		step(t, ctx, "type password", chromedp.SendKeys(byTestID("login-password"), testPassword))
		step(t, ctx, "submit login", chromedp.Click(byTestID("login-submit")))
	}
	logout := func() {
		t.Helper()
		step(t, ctx, "log out", chromedp.Click(byTestID("logout")))
		step(t, ctx, "login page", chromedp.WaitVisible(byTestID("login-form")))
	}

	// Forced enrolment: the dashboard is out of reach until it is done.
	passwordStep()
	step(t, ctx, "forced to enrol", chromedp.WaitVisible(byTestID("mfa-must-enroll")))
	step(t, ctx, "try the dashboard", chromedp.Navigate(e.srv.URL+"/changes"))
	step(t, ctx, "still enrolling", chromedp.WaitVisible(byTestID("mfa-must-enroll")))

	step(t, ctx, "start set-up", chromedp.Click(byTestID("mfa-enroll-start")))
	step(t, ctx, "qr code", chromedp.WaitVisible(byTestID("mfa-qr")))
	waitFor(t, ctx, "the QR code image to load (CSP allows data: images)", func() bool {
		w, ok := peek(ctx, chromedp.Evaluate[int](`document.querySelector('[data-testid="mfa-qr"]').naturalWidth`))
		return ok && w > 0
	})
	secret := strings.TrimSpace(step(t, ctx, "secret", chromedp.Text(byTestID("mfa-secret"))))
	code, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	step(t, ctx, "wrong code", chromedp.SendKeys(byTestID("mfa-confirm-code"), "000000"))
	step(t, ctx, "confirm wrong", chromedp.Click(byTestID("mfa-confirm-submit")))
	step(t, ctx, "refused", chromedp.WaitVisible(byTestID("flash-error")))
	step(t, ctx, "type code", chromedp.SendKeys(byTestID("mfa-confirm-code"), code))
	step(t, ctx, "confirm", chromedp.Click(byTestID("mfa-confirm-submit")))
	step(t, ctx, "recovery codes", chromedp.WaitVisible(byTestID("reveal-codes")))
	codesText := step(t, ctx, "read codes", chromedp.Text(byTestID("reveal-codes")))
	codes := strings.Fields(codesText)
	if len(codes) != app.RecoveryCodeCount {
		t.Fatalf("recovery codes shown: %q", codesText)
	}
	step(t, ctx, "done", chromedp.Click(byTestID("reveal-back")))
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	// The codes are not shown again.
	step(t, ctx, "account mfa", chromedp.Click(byTestID("nav-account-mfa")))
	step(t, ctx, "status", chromedp.WaitVisible(byTestID("mfa-recovery-left")))
	if body := step(t, ctx, "page text", chromedp.Text("body")); strings.Contains(body, codes[0]) || strings.Contains(body, secret) {
		t.Fatal("the account page shows a recovery code or the secret again")
	}
	step(t, ctx, "cannot disable", chromedp.WaitVisible(byTestID("mfa-disable-refused")))
	logout()

	// Log in with a code of the next window.
	e.clock.Advance(30 * time.Second)
	passwordStep()
	step(t, ctx, "second step", chromedp.WaitVisible(byTestID("mfa-login-form")))
	step(t, ctx, "type a wrong code", chromedp.SendKeys(byTestID("mfa-code"), "123456"))
	step(t, ctx, "submit wrong", chromedp.Click(byTestID("mfa-submit")))
	step(t, ctx, "wrong code refused", chromedp.WaitVisible(byTestID("mfa-login-error")))
	code, _ = totp.GenerateCode(secret, e.clock.Now())
	step(t, ctx, "type code", chromedp.SendKeys(byTestID("mfa-code"), code))
	step(t, ctx, "submit code", chromedp.Click(byTestID("mfa-submit")))
	step(t, ctx, "dashboard after code", chromedp.WaitVisible(byTestID("dashboard")))
	logout()

	// And with a recovery code, once.
	passwordStep()
	step(t, ctx, "second step again", chromedp.WaitVisible(byTestID("mfa-login-form")))
	step(t, ctx, "type recovery code", chromedp.SendKeys(byTestID("mfa-code"), codes[0]))
	step(t, ctx, "submit recovery code", chromedp.Click(byTestID("mfa-submit")))
	step(t, ctx, "dashboard after recovery code", chromedp.WaitVisible(byTestID("dashboard")))
	logout()
	passwordStep()
	step(t, ctx, "second step once more", chromedp.WaitVisible(byTestID("mfa-login-form")))
	step(t, ctx, "reuse recovery code", chromedp.SendKeys(byTestID("mfa-code"), codes[0]))
	step(t, ctx, "submit reused", chromedp.Click(byTestID("mfa-submit")))
	step(t, ctx, "reused refused", chromedp.WaitVisible(byTestID("mfa-login-error")))

	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Limit: app.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		seen[ev.Event] = true
		for _, c := range codes {
			if strings.Contains(string(ev.Payload), c) || strings.Contains(string(ev.Payload), secret) {
				t.Fatalf("a secret in audit record %s: %s", ev.Event, ev.Payload)
			}
		}
	}
	for _, want := range []string{"mfa.enrolled", "mfa.recovery_code_used", "auth.login_failed", "auth.login_succeeded"} {
		if !seen[want] {
			t.Errorf("no %s record", want)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}
