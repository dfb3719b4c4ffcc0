package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// TestBrowserPostRedirectGet: an admin creates an enrollment token and
// lands on its one-time reveal page (/reveal/…) with the enroll command
// for the configured agent address, the sudo and systemctl lines and a copy
// button; reloading says it was already shown. An operator submits a
// change request and lands on /changes/N; reloading GETs that page again
// and submits nothing twice.
func TestBrowserPostRedirectGet(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true, agents: true, agentURL: testAgentURL})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.ldapConnector(dir, 1)
	ops := e.client()
	e.login(ops, "ops@example.com")
	changePath := e.createChange(ops, conn.ID, "Disable bob", uidOp("ldap.user.disable", "bob"))
	// Start the browser on the test's context, not on one step's.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	login := func(email string) {
		step(t, ctx, "login form", chromedp.WaitVisible(byTestID("login-email")))
		step(t, ctx, "type email "+email, chromedp.SendKeys(byTestID("login-email"), email))
		step(t, ctx, "type password", chromedp.SendKeys(byTestID("login-password"), testPassword))
		step(t, ctx, "submit login", chromedp.Click(byTestID("login-submit")))
		step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	}
	location := func() string {
		return strings.TrimPrefix(step(t, ctx, "read location", chromedp.Location()), e.srv.URL)
	}

	step(t, ctx, "open login", chromedp.Navigate(e.srv.URL+"/login"))
	login("admin@example.com")
	step(t, ctx, "open agents", chromedp.Click(byTestID("nav-agents")))
	step(t, ctx, "labels", chromedp.SendKeys(byTestID("enrollment-labels"), "env=prod"))
	step(t, ctx, "create token", chromedp.Click(byTestID("enrollment-submit")))
	step(t, ctx, "reveal page", chromedp.WaitVisible(byTestID("reveal-command")))
	if loc := location(); !strings.HasPrefix(loc, "/reveal/") {
		t.Fatalf("after creating a token the address is %s", loc)
	}
	cmd := step(t, ctx, "read command", chromedp.Text(byTestID("reveal-command")))
	lines := strings.Split(strings.TrimSpace(cmd), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "sudo nexplane-agent enroll --server "+testAgentURL+" --token nxe_") ||
		!strings.Contains(lines[0], " --ca-sha256 "+e.ca.Fingerprint()) || lines[1] != "sudo systemctl enable --now nexplane-agent" {
		t.Fatalf("enroll command:\n%s", cmd)
	}
	step(t, ctx, "copy button", chromedp.WaitVisible(byTestID("copy-reveal-command")))
	step(t, ctx, "reload reveal page", chromedp.Reload())
	step(t, ctx, "already shown", chromedp.WaitVisible(byTestID("reveal-gone")))
	if body := step(t, ctx, "gone text", chromedp.Text("body")); !strings.Contains(body, "already shown or has expired") ||
		strings.Contains(body, "nxe_") {
		t.Fatalf("reloaded reveal page:\n%s", body)
	}
	step(t, ctx, "log out", chromedp.Click(byTestID("logout")))

	login("ops@example.com")
	step(t, ctx, "open the draft", chromedp.Navigate(e.srv.URL+changePath))
	step(t, ctx, "submit", chromedp.Click(byTestID("change-submit")))
	step(t, ctx, "submitted", chromedp.WaitVisible(byTestID("flash")))
	if loc := location(); loc != changePath {
		t.Fatalf("after submitting the address is %s, want %s", loc, changePath)
	}
	step(t, ctx, "reload", chromedp.Reload())
	step(t, ctx, "page again", chromedp.WaitVisible(byTestID("change-status")))
	if status := step(t, ctx, "status", chromedp.Text(byTestID("change-status"))); !strings.Contains(status, "submitted") {
		t.Fatalf("status after reload: %q", status)
	}
	if loc := location(); loc != changePath {
		t.Fatalf("after reload the address is %s", loc)
	}
	// The reload was a GET: one submission, no refusal flash from a
	// second POST.
	if body := step(t, ctx, "page text", chromedp.Text("body")); strings.Contains(body, "cannot submit") {
		t.Fatalf("the reload submitted again:\n%s", body)
	}
	evs, err := e.svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{Event: "change.submitted"})
	if err != nil || len(evs.Events) != 1 {
		t.Fatalf("change.submitted records: %v, %v", evs, err)
	}
	if r := e.get(ops, changePath); r.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", changePath, r.StatusCode)
	}
}
