package web_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// Screenshots of the change request flow, for a human to look at.
const (
	connectorScreenshotPath = "/tmp/nexplane-connector.png"
	changeDraftScreenshot   = "/tmp/nexplane-change-draft.png"
	changeDoneScreenshot    = "/tmp/nexplane-change-succeeded.png"
	changeFormScreenshot    = "/tmp/nexplane-change-form.png"
)

// watchProblems collects console errors (CSP violations land there) and
// uncaught exceptions of one browser context.
func watchProblems(t *testing.T, ctx context.Context, who string, mu *sync.Mutex, problems *[]string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start browser context %s: %v", who, err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && !strings.Contains(ev.Entry.URL, "favicon.ico") {
				*problems = append(*problems, fmt.Sprintf("%s: console %s: %s (%s)", who, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *runtime.EventExceptionThrown:
			*problems = append(*problems, who+": exception: "+ev.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

func browserLogin(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	step(t, ctx, "open login "+email, chromedp.Navigate(base+"/login"))
	step(t, ctx, "type email", chromedp.SendKeys(byTestID("login-email"), email))
	step(t, ctx, "type password", chromedp.SendKeys(byTestID("login-password"), testPassword))
	step(t, ctx, "submit login", chromedp.Click(byTestID("login-submit")))
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	// Let the page settle (fonts, the caret, a just-swapped fragment) so
	// the picture is complete.
	step(t, ctx, "settle "+path, chromedp.Sleep(300*time.Millisecond))
	png := step(t, ctx, "screenshot "+path, chromedp.FullScreenshot(100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserChangeRequest drives the whole change request flow through the
// console against a real slapd: an admin adds the LDAP connector, an
// operator writes and submits a request to disable bob, an approver (in a
// separate browser context) approves it, the operator executes it and
// watches it succeed, and the directory shows bob locked.
func TestBrowserChangeRequest(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)

	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "admin", &mu, &problems)

	// The admin adds the connector through the console, StartTLS with the
	// directory's CA.
	browserLogin(t, ctx, e.srv.URL, "admin@example.com")
	step(t, ctx, "open connectors", chromedp.Click(byTestID("nav-connectors")))
	step(t, ctx, "new connector", chromedp.Click(byTestID("connector-new")))
	step(t, ctx, "name", chromedp.SendKeys(byTestID("connector-form-name"), "Directory"))
	for field, value := range map[string]string{"url": dir.URL, "bind_dn": dir.BindDN, "base_dn": dir.BaseDN,
		"user_base": dir.UserBase, "group_base": dir.GroupBase} {
		step(t, ctx, "type "+field, chromedp.SendKeys(byTestID("connector-field-ldap-"+field), value))
	}
	step(t, ctx, "paste CA", chromedp.SetValue(byTestID("connector-field-ldap-ca_pem"), string(dir.CAPEM)))
	step(t, ctx, "type bind password", chromedp.SendKeys(byTestID("connector-field-ldap-bind_password"), dir.BindPassword))
	// Creating tests the connection at once; the connector's page says so.
	step(t, ctx, "create connector", chromedp.Click(byTestID("connector-form-submit")))
	step(t, ctx, "created", chromedp.WaitVisible(byTestID("flash")))
	step(t, ctx, "test ok", chromedp.WaitVisible(byTestID("connector-test-ok")))
	html := step(t, ctx, "connector html", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, dir.BindPassword) {
		t.Fatal("the bind password is in the connector page")
	}
	screenshot(t, ctx, connectorScreenshotPath)

	// The operator, in a browser context of their own.
	opsCtx, cancelOps := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelOps()
	watchProblems(t, opsCtx, "operator", &mu, &problems)
	browserLogin(t, opsCtx, e.srv.URL, "ops@example.com")
	if has := step(t, opsCtx, "nav", chromedp.OuterHTML(chromedp.CSS("nav"))); strings.Contains(has, "nav-connectors") {
		t.Fatal("operator sees Connectors")
	}
	step(t, opsCtx, "open changes", chromedp.Click(byTestID("nav-changes")))
	step(t, opsCtx, "new change", chromedp.Click(byTestID("change-new")))
	step(t, opsCtx, "choose connector", chromedp.Click(byTestID("change-connector-next")))
	step(t, opsCtx, "title", chromedp.SendKeys(byTestID("change-form-title"), "Disable bob"))
	step(t, opsCtx, "why", chromedp.SendKeys(byTestID("change-form-description"), "Bob left the company."))
	// Picking a type swaps the row through htmx: set the value and fire
	// the change event a user's pick fires.
	step(t, opsCtx, "focus type", chromedp.Focus(byTestID("op0-type")))
	step(t, opsCtx, "pick type", chromedp.SetValue(byTestID("op0-type"), "ldap.user.disable"))
	step(t, opsCtx, "fire change", chromedp.Evaluate[bool](`document.querySelector('[data-testid="op0-type"]').dispatchEvent(new Event('change', {bubbles: true}))`))
	step(t, opsCtx, "uid field", chromedp.WaitVisible(byTestID("op0-uid")))
	step(t, opsCtx, "type uid", chromedp.SendKeys(byTestID("op0-uid"), "bob"))
	screenshot(t, opsCtx, changeFormScreenshot)
	step(t, opsCtx, "create draft", chromedp.Click(byTestID("change-form-submit")))
	step(t, opsCtx, "draft", chromedp.WaitVisible(byTestID("change-submit")))
	changeURL := step(t, opsCtx, "change url", chromedp.Location())
	step(t, opsCtx, "submit", chromedp.Click(byTestID("change-submit")))
	waitText(t, opsCtx, "submitted", "change-status", "submitted")
	plan := step(t, opsCtx, "plan", chromedp.Text(byTestID("change-op-plan")))
	if !strings.Contains(plan, "bob") {
		t.Errorf("plan does not name bob: %q", plan)
	}
	screenshot(t, opsCtx, changeDraftScreenshot)

	// The approver finds it on the dashboard and approves it.
	apprCtx, cancelAppr := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelAppr()
	watchProblems(t, apprCtx, "approver", &mu, &problems)
	browserLogin(t, apprCtx, e.srv.URL, "approver@example.com")
	step(t, apprCtx, "waiting card", chromedp.WaitVisible(byTestID("card-approvals")))
	step(t, apprCtx, "open from dashboard", chromedp.Click(chromedp.CSS(`[data-testid="card-approvals"] [data-testid="change-row-title"] a`)))
	step(t, apprCtx, "comment", chromedp.SendKeys(byTestID("change-decision-comment"), "Offboarding ticket checked."))
	step(t, apprCtx, "approve", chromedp.Click(byTestID("change-approve")))
	waitText(t, apprCtx, "approved", "change-status", "approved")

	// The operator executes and watches the live block until it is done.
	step(t, opsCtx, "reload", chromedp.Navigate(changeURL))
	step(t, opsCtx, "execute", chromedp.Click(byTestID("change-execute")))
	waitText(t, opsCtx, "succeeded", "change-status", "succeeded")
	summary := step(t, opsCtx, "summary", chromedp.Text(byTestID("change-op-summary")))
	if !strings.Contains(summary, "bob") {
		t.Errorf("result summary: %q", summary)
	}
	screenshot(t, opsCtx, changeDoneScreenshot)

	// The directory agrees: bob is locked.
	l := dir.Admin(t)
	res, err := l.Search(goldap.NewSearchRequest("uid=bob,"+dir.UserBase, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"pwdAccountLockedTime"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search bob: %v", err)
	}
	if got := res.Entries[0].GetAttributeValue("pwdAccountLockedTime"); got == "" {
		t.Fatal("bob has no pwdAccountLockedTime")
	} else {
		t.Logf("bob pwdAccountLockedTime=%s", got)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, what, testID, want string) {
	t.Helper()
	waitFor(t, ctx, what, func() bool {
		txt, ok := peek(ctx, chromedp.Text(byTestID(testID)))
		return ok && strings.Contains(txt, want)
	})
}
