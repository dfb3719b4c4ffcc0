package web_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// colorScheme emulates the system's prefers-color-scheme ("light" or
// "dark") for the page and every page after it.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// lowContrastJS lists every visible element with text of its own whose
// colour on its background is below the WCAG AA ratio (4.5:1, or 3:1 for
// large text). The background is the nearest opaque one up the tree.
const lowContrastJS = `(() => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.matches("option, script, style, :disabled")) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden" || st.display === "none") continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.bottom < 0) continue;
    const fg = parse(st.color), bg = background(el);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      bad.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "") + " \"" +
        el.textContent.trim().slice(0, 40) + "\": " + ratio.toFixed(2) + " (" + st.color + " on rgb(" + bg.r + ", " + bg.g + ", " + bg.b + "))");
    }
  }
  return bad;
})()`

// requireReadable fails for every text on the current page that is too
// faint on its background.
func requireReadable(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	for _, p := range step(t, ctx, "contrast of "+what, chromedp.Evaluate[[]string](lowContrastJS)) {
		t.Errorf("%s: low contrast: %s", what, p)
	}
}

// bodyBackground is the computed background colour of the page.
func bodyBackground(t *testing.T, ctx context.Context) string {
	t.Helper()
	return step(t, ctx, "body background", chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
}

// readableInBoth checks the current page in the light and the dark scheme:
// the backgrounds differ and every text keeps its contrast. It leaves the
// light scheme on.
func readableInBoth(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	var light string
	for _, scheme := range []string{"light", "dark"} {
		step(t, ctx, "scheme "+scheme+" on "+what, colorScheme(scheme))
		bg := bodyBackground(t, ctx)
		if scheme == "light" {
			light = bg
		} else if bg == light {
			t.Errorf("%s: the dark background is the light one (%s)", what, bg)
		}
		requireReadable(t, ctx, what+", "+scheme)
	}
	step(t, ctx, "back to light on "+what, colorScheme("light"))
}

// screenshotsOut is where TestScreenshots writes: docs/screenshots with
// NEXPLANE_SCREENSHOTS=write (how the committed pictures are made), else a
// temporary directory, so make test leaves the tree clean.
func screenshotsOut(t *testing.T) string {
	if os.Getenv("NEXPLANE_SCREENSHOTS") == "write" {
		return filepath.Join("..", "..", "docs", "screenshots") // relative to this package
	}
	return t.TempDir()
}

// TestBrowserPolish walks the small things a new team stumbles on, in
// Chromium: the setup link used again says setup is done and leads to
// login; a 403 says in words what the role cannot do and who can; the
// skip link is the first tab stop and lands on the content; the change
// form starts with one operation row, adds rows on demand and removes
// them, and saves the rows that are left, in order. The setup-done page, a
// form error, the 403 page and a flash are readable in light and dark.
func TestBrowserPolish(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true, setup: true})
	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "polish", &mu, &problems)

	// Setup, then the same link again.
	setupURL := e.srv.URL + "/setup?token=" + url.QueryEscape(e.gate.Token())
	step(t, ctx, "open setup", chromedp.Navigate(setupURL))
	step(t, ctx, "setup email", chromedp.SendKeys(byTestID("setup-email"), "first@example.com"))
	step(t, ctx, "setup password", chromedp.SendKeys(byTestID("setup-password"), testPassword))
	step(t, ctx, "setup confirm", chromedp.SendKeys(byTestID("setup-confirm"), testPassword))
	step(t, ctx, "create admin", chromedp.Click(byTestID("setup-submit")))
	step(t, ctx, "dashboard after setup", chromedp.WaitVisible(byTestID("dashboard")))
	step(t, ctx, "log out", chromedp.Click(byTestID("logout")))
	step(t, ctx, "login page", chromedp.WaitVisible(byTestID("login-form")))
	step(t, ctx, "open the setup link again", chromedp.Navigate(setupURL))
	step(t, ctx, "setup done page", chromedp.WaitVisible(byTestID("setup-done")))
	if txt := step(t, ctx, "setup done text", chromedp.Text(byTestID("setup-done"))); !strings.Contains(txt, "Setup is done") ||
		strings.Contains(txt, "invalid") {
		t.Errorf("reused setup link says %q", txt)
	}
	readableInBoth(t, ctx, "setup done page")
	step(t, ctx, "go to login", chromedp.Click(byTestID("setup-done-login")))
	step(t, ctx, "login from setup done", chromedp.WaitVisible(byTestID("login-form")))
	problemsAllowed(&mu, &problems, "status of 410") // the spent link answers 410 Gone on purpose

	// A form error (a wrong password) is readable in both schemes.
	step(t, ctx, "login email", chromedp.SendKeys(byTestID("login-email"), "first@example.com"))
	step(t, ctx, "wrong password", chromedp.SendKeys(byTestID("login-password"), "not the password at all"))
	step(t, ctx, "submit wrong login", chromedp.Click(byTestID("login-submit")))
	step(t, ctx, "login error", chromedp.WaitVisible(byTestID("login-error")))
	readableInBoth(t, ctx, "login error")
	problemsAllowed(&mu, &problems, "status of 401")

	// A 403 in words.
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.ldapConnector(dir, 1)
	browserLogin(t, ctx, e.srv.URL, "ops@example.com")
	step(t, ctx, "open users as operator", chromedp.Navigate(e.srv.URL+"/users"))
	step(t, ctx, "403 page", chromedp.WaitVisible(byTestID("error-page")))
	if msg := step(t, ctx, "403 message", chromedp.Text(byTestID("error-message"))); msg != "Your role (operator) cannot manage users; an admin can." {
		t.Errorf("403 says %q", msg)
	}
	if page := step(t, ctx, "403 page text", chromedp.Text(byTestID("error-page"))); strings.Contains(page, "users.manage") {
		t.Errorf("403 page shows an internal key: %q", page)
	}
	readableInBoth(t, ctx, "403 page")
	problemsAllowed(&mu, &problems, "status of 403")

	// The skip link: first tab stop, visible when focused, lands on main.
	step(t, ctx, "open dashboard", chromedp.Navigate(e.srv.URL+"/"))
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	step(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
	if id := step(t, ctx, "first tab stop", chromedp.Evaluate[string](`document.activeElement.dataset.testid || document.activeElement.tagName`)); id != "skip-link" {
		t.Fatalf("first tab stop is %q", id)
	}
	if onScreen := step(t, ctx, "skip link visible", chromedp.Evaluate[bool](`(() => {
		const r = document.activeElement.getBoundingClientRect();
		return r.top >= 0 && r.left >= 0 && r.width > 0 && r.height > 0;
	})()`)); !onScreen {
		t.Error("the focused skip link is off screen")
	}
	step(t, ctx, "follow skip link", chromedp.KeyEvent(kb.Enter))
	waitFor(t, ctx, "focus in main", func() bool {
		v, ok := peek(ctx, chromedp.Evaluate[bool](`location.hash === "#main" && document.activeElement.id === "main"`))
		return ok && v
	})

	// Operation rows on demand.
	rowCount := func() int {
		return step(t, ctx, "count rows", chromedp.Evaluate[int](`document.querySelectorAll('#op-rows .op-row').length`))
	}
	labels := func() string {
		return step(t, ctx, "row labels", chromedp.Evaluate[string](`[...document.querySelectorAll('#op-rows .op-number')].map(n => n.textContent).join(",")`))
	}
	waitRows := func(n int) {
		t.Helper()
		waitFor(t, ctx, strconv.Itoa(n)+" rows", func() bool {
			v, ok := peek(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#op-rows .op-row').length`))
			return ok && v == n
		})
	}
	step(t, ctx, "open change form", chromedp.Navigate(e.srv.URL+"/changes/new?connector="+strconv.FormatInt(conn.ID, 10)))
	step(t, ctx, "change form", chromedp.WaitVisible(byTestID("change-form")))
	if n := rowCount(); n != 1 {
		t.Fatalf("a new change form has %d operation rows", n)
	}
	step(t, ctx, "title", chromedp.SendKeys(byTestID("change-form-title"), "Rows on demand"))
	step(t, ctx, "add row", chromedp.Click(byTestID("change-form-add-op")))
	waitRows(2)
	waitFor(t, ctx, "focus on the new row", func() bool {
		v, ok := peek(ctx, chromedp.Evaluate[string](`document.activeElement.dataset.testid || ""`))
		return ok && v == "op1-type"
	})
	step(t, ctx, "add another row", chromedp.Click(byTestID("change-form-add-op")))
	waitRows(3)
	if l := labels(); l != "1,2,3" {
		t.Errorf("row labels %q", l)
	}
	step(t, ctx, "remove the middle row", chromedp.Click(byTestID("op1-remove")))
	waitRows(2)
	if l := labels(); l != "1,2" {
		t.Errorf("row labels after remove %q", l)
	}
	if id := step(t, ctx, "focus after remove", chromedp.Evaluate[string](`document.activeElement.dataset.testid || ""`)); id != "change-form-add-op" {
		t.Errorf("focus after remove is on %q", id)
	}
	for _, r := range []struct{ row, typ, uid string }{{"op0", "ldap.user.disable", "alice"}, {"op2", "ldap.user.enable", "bob"}} {
		step(t, ctx, "pick type "+r.row, chromedp.SetValue(byTestID(r.row+"-type"), r.typ))
		step(t, ctx, "fire change "+r.row, chromedp.Evaluate[bool](`document.querySelector('[data-testid="`+r.row+`-type"]').dispatchEvent(new Event('change', {bubbles: true}))`))
		step(t, ctx, "uid field "+r.row, chromedp.WaitVisible(byTestID(r.row+"-uid")))
		step(t, ctx, "type uid "+r.row, chromedp.SendKeys(byTestID(r.row+"-uid"), r.uid))
	}
	step(t, ctx, "create draft", chromedp.Click(byTestID("change-form-submit")))
	step(t, ctx, "change detail", chromedp.WaitVisible(byTestID("change-detail")))
	step(t, ctx, "flash", chromedp.WaitVisible(byTestID("flash")))
	readableInBoth(t, ctx, "change detail with a flash")
	loc := step(t, ctx, "location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.GetChange(t.Context(), app.SystemActor("test"), changeIDOf(t, u.Path))
	if err != nil || len(c.Operations) != 2 || c.Operations[0].Type != "ldap.user.disable" || c.Operations[1].Type != "ldap.user.enable" {
		t.Fatalf("saved operations: %+v, %v", c, err)
	}

	requireNoProblemsLeft(t, &mu, &problems)
}

// problemsAllowed drops the collected browser problems that contain what
// (a status the test caused on purpose).
func problemsAllowed(mu *sync.Mutex, problems *[]string, what string) {
	mu.Lock()
	defer mu.Unlock()
	kept := (*problems)[:0]
	for _, p := range *problems {
		if !strings.Contains(p, what) {
			kept = append(kept, p)
		}
	}
	*problems = kept
}

// requireNoProblemsLeft fails for every browser problem still collected.
func requireNoProblemsLeft(t *testing.T, mu *sync.Mutex, problems *[]string) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for _, p := range *problems {
		t.Errorf("browser reported: %s", p)
	}
}

// shotPage is one page of the screenshot walk.
type shotPage struct {
	name string // file name stem: dashboard → dashboard-390-dark.png
	path string // "" stays on the page the browser shows (a single-use one)
}

// TestScreenshots walks the console's main pages at 1440 px and 390 px in
// light and dark mode. On every page and in both schemes the text keeps
// its contrast and the dark background differs from the light one; at
// 390 px no page scrolls sideways (wide tables scroll inside their card);
// the dashboard's "When" column is never cut off. With
// NEXPLANE_SCREENSHOTS=write the pictures go to docs/screenshots (run
// `NEXPLANE_SCREENSHOTS=write go test ./app/web -run TestScreenshots`),
// else to a temporary directory.
func TestScreenshots(t *testing.T) {
	ctx := newBrowser(t)
	out := screenshotsOut(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true, agents: true, agentURL: testAgentURL})
	e.seedUser("admin@example.com", app.RoleAdmin)
	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "screenshots", &mu, &problems)

	walk := func(pages []shotPage) {
		t.Helper()
		for _, p := range pages {
			if p.path != "" {
				step(t, ctx, "open "+p.name, chromedp.Navigate(e.srv.URL+p.path))
			}
			step(t, ctx, "main of "+p.name, chromedp.WaitVisible(chromedp.CSS("#main")))
			var light string
			for _, size := range []struct{ w, h int64 }{{1440, 900}, {390, 844}} {
				for _, scheme := range []string{"light", "dark"} {
					what := p.name + " at " + strconv.FormatInt(size.w, 10) + " px, " + scheme
					step(t, ctx, "viewport "+what, chromedp.EmulateViewport(size.w, size.h))
					step(t, ctx, "scheme "+what, colorScheme(scheme))
					bg := bodyBackground(t, ctx)
					if scheme == "light" {
						light = bg
					} else if bg == light {
						t.Errorf("%s: the dark background is the light one (%s)", what, bg)
					}
					requireReadable(t, ctx, what)
					if size.w == 390 && step(t, ctx, "measure "+what, chromedp.Evaluate[bool](
						`document.documentElement.scrollWidth > window.innerWidth`)) {
						t.Errorf("%s: the page scrolls sideways", what)
					}
					if p.name == "dashboard" {
						requireWhenVisible(t, ctx, what)
					}
					screenshot(t, ctx, filepath.Join(out, p.name+"-"+strconv.FormatInt(size.w, 10)+"-"+scheme+".png"))
				}
			}
		}
	}

	walk([]shotPage{{name: "login", path: "/login"}})
	browserLogin(t, ctx, e.srv.URL, "admin@example.com")
	walk([]shotPage{{name: "dashboard-empty", path: "/"}})

	// Data: a synced directory, people, and change requests in several
	// states (one executed against slapd).
	conn := e.ldapConnector(dir, 1)
	if _, err := e.svc.SyncConnector(t.Context(), app.SystemActor("scheduler"), conn.ID); err != nil {
		t.Fatal(err)
	}
	e.seedUser("operator@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	e.seedUser("viewer.with.a.rather.long.address@example.com", app.RoleViewer)
	ops, appr := e.client(), e.client()
	e.login(ops, "operator@example.com")
	e.login(appr, "approver@example.com")
	done, _ := e.runChange(ops, appr, conn.ID, "Offboard alice: disable her directory account", app.StateSucceeded,
		uidOp("ldap.user.disable", "alice"))
	waiting := e.createChange(ops, conn.ID, "Add bob to the admins group", op{"ldap.group.add_member", map[string]string{"group": "admins", "uid": "bob"}})
	e.mustPost(ops, waiting, "submit", nil)
	e.createChange(ops, conn.ID, "Re-enable alice after her return", uidOp("ldap.user.enable", "alice"))

	step(t, ctx, "open assets", chromedp.Navigate(e.srv.URL+"/assets"))
	step(t, ctx, "assets table", chromedp.WaitVisible(byTestID("assets-table")))
	asset := step(t, ctx, "an asset's address", chromedp.Evaluate[string](
		`[...document.querySelectorAll('a[href^="/assets/"]')].map(a => a.getAttribute("href")).find(h => /^\/assets\/\d+$/.test(h)) || ""`))
	if asset == "" {
		t.Fatal("no asset page linked from /assets")
	}

	walk([]shotPage{
		{name: "dashboard", path: "/"},
		{name: "changes", path: "/changes"},
		{name: "change-detail", path: done},
		{name: "change-new", path: "/changes/new?connector=" + strconv.FormatInt(conn.ID, 10)},
		{name: "connectors", path: "/connectors"},
		{name: "connector-form", path: "/connectors/new"},
		{name: "assets", path: "/assets"},
		{name: "asset-detail", path: asset},
		{name: "agents", path: "/agents"},
		{name: "users", path: "/users"},
		{name: "audit", path: "/audit"},
		{name: "account", path: "/account"},
	})

	// A one-time secret: the enrollment token's reveal page, shown once, so
	// it is pictured where the form's redirect lands.
	step(t, ctx, "open agents", chromedp.Navigate(e.srv.URL+"/agents"))
	step(t, ctx, "create token", chromedp.Click(byTestID("enrollment-submit")))
	step(t, ctx, "reveal page", chromedp.WaitVisible(byTestID("reveal-command")))
	walk([]shotPage{{name: "reveal", path: ""}})

	requireNoProblemsLeft(t, &mu, &problems)
}

// requireWhenVisible fails when a dashboard "When" cell is cut off: wider
// than it shows, or past the right edge of its card.
func requireWhenVisible(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	clipped := step(t, ctx, "when cells of "+what, chromedp.Evaluate[[]string](`(() => {
		const bad = [];
		const cells = document.querySelectorAll('[data-testid="change-row-when"]');
		for (const td of cells) {
			const r = td.getBoundingClientRect(), card = td.closest(".card").getBoundingClientRect();
			if (td.scrollWidth > td.clientWidth + 1 || r.right > card.right + 0.5 || r.width === 0) bad.push(td.textContent.trim());
		}
		return cells.length === 0 ? ["no When cells"] : bad;
	})()`))
	for _, c := range clipped {
		t.Errorf("%s: When cell cut off: %q", what, c)
	}
}
