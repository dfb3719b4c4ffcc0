package web_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
)

// shotAt takes a full-page screenshot of the current page at width px
// (viewport height 900, or 844 on a phone) into dir/name.
func shotAt(t *testing.T, ctx context.Context, width int64, dir, name string) {
	t.Helper()
	height := int64(900)
	if width < 500 {
		height = 844
	}
	step(t, ctx, "viewport "+strconv.FormatInt(width, 10), chromedp.EmulateViewport(width, height))
	screenshot(t, ctx, filepath.Join(dir, name))
}

// noPageScroll fails when the page scrolls sideways at the current width
// (a wide table must scroll inside its card, never the page).
func noPageScroll(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if step(t, ctx, "measure "+what, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`)) {
		t.Errorf("%s scrolls sideways at this width", what)
	}
}

// TestBrowserAuditFilters: the audit page's selects, ISO UTC time fields,
// quick ranges and resource links work in Chromium, the filters land in
// the URL (and come back from it), and a bad time is a readable error.
// Screenshots: docs/screenshots/audit-1440.png and audit-390.png.
func TestBrowserAuditFilters(t *testing.T) {
	ctx := newBrowser(t)
	shots := screenshotDir(t)
	e := newEnv(t, envOpts{headers: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	op := e.seedUser("operator@example.com", app.RoleOperator)
	e.seedUser("viewer@example.com", app.RoleViewer)
	role := string(app.RoleApprover)
	if _, err := e.svc.UpdateUser(t.Context(), app.SystemActor("test"), op.ID, app.UserPatch{Role: &role}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "admin", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, "admin@example.com")

	step(t, ctx, "open audit", chromedp.Navigate(e.srv.URL+"/audit"))
	step(t, ctx, "audit table", chromedp.WaitVisible(byTestID("audit-table")))
	// The event select holds the catalogue.
	n := step(t, ctx, "count event options", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="audit-filter-event"] option').length`))
	if n != len(app.AuditEvents)+1 {
		t.Errorf("event select has %d options, want %d", n, len(app.AuditEvents)+1)
	}
	shotAt(t, ctx, 1440, shots, "audit-1440.png")
	noPageScroll(t, ctx, "audit page at 1440 px")
	step(t, ctx, "back to desktop", chromedp.EmulateViewport(1440, 900))

	// Pick from the selects and apply: htmx swaps the results and pushes the URL.
	step(t, ctx, "pick event", chromedp.SetValue(byTestID("audit-filter-event"), "user.role_changed"))
	step(t, ctx, "pick type", chromedp.SetValue(byTestID("audit-filter-resource-type"), "user"))
	step(t, ctx, "apply", chromedp.Click(byTestID("audit-filter-submit")))
	waitFor(t, ctx, "filters in the URL", func() bool {
		loc, ok := peek(ctx, chromedp.Location())
		return ok && strings.Contains(loc, "event=user.role_changed") && strings.Contains(loc, "resource_type=user")
	})
	waitFor(t, ctx, "filtered rows", func() bool {
		txt, ok := peek(ctx, chromedp.Text(byTestID("audit-table")))
		return ok && strings.Contains(txt, "user.role_changed") && !strings.Contains(txt, "user.created")
	})
	// The resource links to its page.
	step(t, ctx, "follow resource link", chromedp.Click(byTestID("audit-resource-link")))
	waitFor(t, ctx, "user page", func() bool {
		loc, ok := peek(ctx, chromedp.Location())
		return ok && strings.HasSuffix(loc, "/users/"+strconv.FormatInt(op.ID, 10))
	})
	// Back: the filters come back from the URL into the form.
	step(t, ctx, "back", chromedp.NavigateBack())
	step(t, ctx, "filter form again", chromedp.WaitVisible(byTestID("audit-filter")))
	ev := step(t, ctx, "event value", chromedp.Value(byTestID("audit-filter-event")))
	ty := step(t, ctx, "type value", chromedp.Value(byTestID("audit-filter-resource-type")))
	if ev != "user.role_changed" || ty != "user" {
		t.Errorf("after back the form shows event %q type %q", ev, ty)
	}

	// A quick range sets from (ISO, UTC) and keeps the other filters.
	step(t, ctx, "last day", chromedp.Click(byTestID("audit-range-day")))
	step(t, ctx, "ranged table", chromedp.WaitVisible(byTestID("audit-table")))
	from := step(t, ctx, "from value", chromedp.Value(byTestID("audit-from")))
	if want := e.clock.Now().UTC().Add(-24 * 3600e9).Format("2006-01-02T15:04"); !strings.HasPrefix(from, want) || !strings.HasSuffix(from, "Z") {
		t.Errorf("last day set from = %q, want %s…Z", from, want)
	}
	loc := step(t, ctx, "ranged URL", chromedp.Location())
	if !strings.Contains(loc, "event=user.role_changed") || !strings.Contains(loc, "from=") {
		t.Errorf("quick range URL %s", loc)
	}

	// A time typed in another format is refused readably.
	step(t, ctx, "clear from", chromedp.Evaluate[bool](`document.querySelector('[data-testid="audit-from"]').value = ''; true`))
	step(t, ctx, "type bad from", chromedp.SendKeys(byTestID("audit-from"), "31/01/2025 14:00"))
	step(t, ctx, "apply bad", chromedp.Click(byTestID("audit-filter-submit")))
	step(t, ctx, "error shown", chromedp.WaitVisible(byTestID("audit-error")))
	msg := step(t, ctx, "error text", chromedp.Text(byTestID("audit-error")))
	if !strings.Contains(msg, "is not a time: use ISO 8601 in UTC") {
		t.Errorf("bad time message %q", msg)
	}

	step(t, ctx, "unfiltered", chromedp.Navigate(e.srv.URL+"/audit"))
	step(t, ctx, "table", chromedp.WaitVisible(byTestID("audit-table")))
	shotAt(t, ctx, 390, shots, "audit-390.png")
	noPageScroll(t, ctx, "audit page at 390 px")

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		// The bad time above is answered 400 on purpose.
		if strings.Contains(p, "status of 400") && strings.Contains(p, "from=31%2F01%2F2025") {
			continue
		}
		t.Errorf("browser reported: %s", p)
	}
}

// TestBrowserDashboardByRole: a new install's dashboard shows the
// getting-started checklist; later an operator's shows their drafts, their
// requests waiting for approval, approved ones ready to execute and their
// failed ones. Screenshots: dashboard-empty-1440.png, dashboard-empty-390.png,
// dashboard-operator-1440.png and dashboard-operator-390.png.
func TestBrowserDashboardByRole(t *testing.T) {
	ctx := newBrowser(t)
	shots := screenshotDir(t)
	e := newEnv(t, envOpts{headers: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "admin", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, "admin@example.com")
	step(t, ctx, "checklist", chromedp.WaitVisible(byTestID("getting-started")))
	txt := step(t, ctx, "checklist text", chromedp.Text(byTestID("getting-started")))
	for _, want := range []string{"Create users", "Add a connector", "Make the first change request"} {
		if !strings.Contains(txt, want) {
			t.Errorf("checklist lacks %q:\n%s", want, txt)
		}
	}
	shotAt(t, ctx, 1440, shots, "dashboard-empty-1440.png")
	noPageScroll(t, ctx, "empty dashboard at 1440 px")
	shotAt(t, ctx, 390, shots, "dashboard-empty-390.png")
	noPageScroll(t, ctx, "empty dashboard at 390 px")
	step(t, ctx, "desktop", chromedp.EmulateViewport(1440, 900))
	step(t, ctx, "follow add-a-connector", chromedp.Click(byTestID("getting-started-connector-link")))
	waitFor(t, ctx, "connector form", func() bool {
		loc, ok := peek(ctx, chromedp.Location())
		return ok && strings.HasSuffix(loc, "/connectors/new")
	})

	op := e.seedUser("operator@example.com", app.RoleOperator)
	other := e.seedUser("operator2@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.seedConnector("corp-directory")
	e.seedChange(conn.ID, op, "Add Carol to the on-call group", app.StateDraft)
	e.seedChange(conn.ID, op, "Disable the departed contractor", app.StateSubmitted)
	e.seedChange(conn.ID, other, "Rotate the backup service key", app.StateApproved)
	e.seedChange(conn.ID, op, "Create the reporting user", app.StateFailed)

	step(t, ctx, "log out", chromedp.Click(byTestID("logout")))
	step(t, ctx, "login page", chromedp.WaitVisible(byTestID("login-email")))
	browserLogin(t, ctx, e.srv.URL, "operator@example.com")
	for _, card := range []string{"card-my-drafts", "card-my-waiting", "card-ready-to-execute", "card-my-failed"} {
		step(t, ctx, card, chromedp.WaitVisible(byTestID(card)))
	}
	for card, want := range map[string]string{"card-my-drafts": "Add Carol", "card-my-waiting": "Disable the departed",
		"card-ready-to-execute": "Rotate the backup", "card-my-failed": "Create the reporting user"} {
		if got := step(t, ctx, card+" text", chromedp.Text(byTestID(card))); !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", card, want, got)
		}
	}
	checklist := step(t, ctx, "no checklist", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="getting-started"]').length`))
	if checklist != 0 {
		t.Error("the checklist stays on a working install")
	}
	shotAt(t, ctx, 1440, shots, "dashboard-operator-1440.png")
	noPageScroll(t, ctx, "operator dashboard at 1440 px")
	shotAt(t, ctx, 390, shots, "dashboard-operator-390.png")
	noPageScroll(t, ctx, "operator dashboard at 390 px")

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}
