package web_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
)

const chromiumPath = "/usr/bin/chromium"

// screenshotPath is where the test leaves a picture of the console, for a
// human to glance at.
const screenshotPath = "/tmp/nexplane-console.png"

// usersScreenshotPath shows the users page after creating a user.
const usersScreenshotPath = "/tmp/nexplane-users.png"

// byTestID selects the first element with the data-testid; browser tests use
// these hooks, never layout-dependent CSS paths.
func byTestID(id string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf("[data-testid=%q]", id))
}

// newBrowser starts headless Chromium, or skips loudly when it is missing
// (fails under NEXPLANE_REQUIRE_INTEGRATION=1, so CI cannot skip silently).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("NEXPLANE_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("browser test: %s not found and NEXPLANE_REQUIRE_INTEGRATION=1", chromiumPath)
		}
		t.Skipf("SKIP browser test: %s not found; apt-get install chromium", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1280, 860),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// step runs one action with a timeout, failing the test with what it was.
func step[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	// htmx may swap the node out between finding it and acting on it (live
	// pages refresh themselves): the action never happened, so try again.
	for i := 0; i < 3 && err != nil && strings.Contains(err.Error(), "No node with given id found"); i++ {
		v, err = chromedp.Run(sctx, a)
	}
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// peek runs a read in a wait loop: an error (htmx swapped the node away
// mid-read, the page is loading) means "not yet", never a failure.
func peek[T any](ctx context.Context, a chromedp.Action[T]) (T, bool) {
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	return v, err == nil
}

func TestBrowserConsole(t *testing.T) {
	ctx := newBrowser(t)
	e := newEnv(t, envOpts{headers: true})
	e.seedUser("admin@example.com", app.RoleAdmin)

	// The first Run starts the browser; it must not carry a timeout.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// Collect console errors (CSP violations are logged there) and
	// uncaught exceptions.
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
	step(t, ctx, "type email", chromedp.SendKeys(byTestID("login-email"), "admin@example.com"))
	step(t, ctx, "type password", chromedp.SendKeys(byTestID("login-password"), testPassword))
	step(t, ctx, "submit login", chromedp.Click(byTestID("login-submit")))
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	if who := step(t, ctx, "current user", chromedp.Text(byTestID("current-user-email"))); who != "admin@example.com" {
		t.Fatalf("logged in as %q", who)
	}

	step(t, ctx, "open users", chromedp.Click(byTestID("nav-users")))
	step(t, ctx, "users table", chromedp.WaitVisible(byTestID("users-table")))
	step(t, ctx, "type new email", chromedp.SendKeys(byTestID("user-create-email"), "operator@example.com"))
	step(t, ctx, "pick role", chromedp.SetValue(byTestID("user-create-role"), "operator"))
	step(t, ctx, "create user", chromedp.Click(byTestID("user-create-submit")))
	step(t, ctx, "invitation shown", chromedp.WaitVisible(byTestID("link-reveal-url")))
	step(t, ctx, "back to users", chromedp.Click(byTestID("nav-users")))
	step(t, ctx, "users table again", chromedp.WaitVisible(byTestID("users-table")))
	if table := step(t, ctx, "users table text", chromedp.Text(byTestID("users-table"))); !strings.Contains(table, "operator@example.com") {
		t.Fatalf("new user not in table:\n%s", table)
	}
	if png := step(t, ctx, "users screenshot", chromedp.FullScreenshot(100)); os.WriteFile(usersScreenshotPath, png, 0o644) != nil {
		t.Log("could not write the users screenshot")
	}

	step(t, ctx, "open audit", chromedp.Click(byTestID("nav-audit")))
	step(t, ctx, "audit table", chromedp.WaitVisible(byTestID("audit-table")))
	events := step(t, ctx, "audit events", chromedp.Text(byTestID("audit-table")))
	for _, want := range []string{"auth.login_succeeded", "user.created", "user.invited"} {
		if !strings.Contains(events, want) {
			t.Errorf("audit table lacks %s:\n%s", want, events)
		}
	}

	// Filter with htmx: only the results are swapped and the URL is pushed.
	step(t, ctx, "pick event filter", chromedp.SetValue(byTestID("audit-filter-event"), "user.created"))
	step(t, ctx, "apply filter", chromedp.Click(byTestID("audit-filter-submit")))
	waitFor(t, ctx, "filtered URL", func() bool {
		loc, ok := peek(ctx, chromedp.Location())
		return ok && strings.Contains(loc, "event=user.created")
	})
	waitFor(t, ctx, "filtered table", func() bool {
		txt, ok := peek(ctx, chromedp.Text(byTestID("audit-table")))
		return ok && strings.Contains(txt, "user.created") && !strings.Contains(txt, "auth.login_succeeded")
	})
	// Reset is a plain link: a full page load.
	step(t, ctx, "reset filters", chromedp.Click(byTestID("audit-filter-reset")))
	waitFor(t, ctx, "unfiltered table", func() bool {
		txt, ok := peek(ctx, chromedp.Text(byTestID("audit-table")))
		return ok && strings.Contains(txt, "auth.login_succeeded")
	})

	png := step(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(screenshotPath, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", screenshotPath)

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("browser: timed out waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
