package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
)

// TestBrowserTokens: an operator opens "API tokens" from the navigation,
// creates a viewer token, copies it from the page that shows it once, uses
// it on the API, then ends it; the API refuses it at once. The pages run
// under the real security headers (CSP) without a console error.
func TestBrowserTokens(t *testing.T) {
	ctx := newBrowser(t)
	e := newEnv(t, envOpts{headers: true, api: true})
	e.seedUser("ops@example.com", app.RoleOperator)
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
			if ev.Entry.Level == log.EntryLevelError && !strings.Contains(ev.Entry.URL, "favicon.ico") {
				problems = append(problems, fmt.Sprintf("console %s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}

	step(t, ctx, "open login", chromedp.Navigate(e.srv.URL+"/login"))
	step(t, ctx, "type email", chromedp.SendKeys(byTestID("login-email"), "ops@example.com"))
	step(t, ctx, "type password", chromedp.SendKeys(byTestID("login-password"), testPassword))
	step(t, ctx, "submit login", chromedp.Click(byTestID("login-submit")))
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))

	step(t, ctx, "open API tokens", chromedp.Click(byTestID("nav-tokens")))
	step(t, ctx, "empty list", chromedp.WaitVisible(byTestID("tokens-empty")))
	step(t, ctx, "type name", chromedp.SendKeys(byTestID("token-name"), "laptop"))
	step(t, ctx, "pick role", chromedp.SetValue(byTestID("token-role"), "viewer"))
	step(t, ctx, "create", chromedp.Click(byTestID("token-create-submit")))
	step(t, ctx, "shown once", chromedp.WaitVisible(byTestID("reveal-once")))
	secret := strings.TrimSpace(step(t, ctx, "read token", chromedp.Text(byTestID("reveal-secret"))))
	if !app.LooksLikeAPIToken(secret) {
		t.Fatalf("page shows %q, not a token", secret)
	}
	if st := e.tokenGet("/api/v1/me", secret, "browser-test"); st != http.StatusOK {
		t.Fatalf("token on the API: %d", st)
	}

	step(t, ctx, "reload list", chromedp.Click(byTestID("nav-tokens")))
	step(t, ctx, "token row", chromedp.WaitVisible(byTestID("token-row")))
	if row := step(t, ctx, "row text", chromedp.Text(byTestID("token-row"))); !strings.Contains(row, "browser-test") ||
		!strings.Contains(row, "active") || strings.Contains(row, secret) {
		t.Fatalf("token row: %q", row)
	}
	step(t, ctx, "end token", chromedp.Click(byTestID("token-revoke")))
	step(t, ctx, "flash", chromedp.WaitVisible(byTestID("flash")))
	if status := step(t, ctx, "status", chromedp.Text(byTestID("token-status"))); status != "revoked" {
		t.Fatalf("status after End: %q", status)
	}
	if st := e.tokenGet("/api/v1/me", secret, "browser-test"); st != http.StatusUnauthorized {
		t.Fatalf("ended token on the API: %d", st)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}
