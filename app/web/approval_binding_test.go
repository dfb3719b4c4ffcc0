package web_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// editBehindApprover has the author change the request's operation and
// submit it again, as if in another tab while the approver reads it.
func (e *env) editBehindApprover(author *app.User, path, uid string) {
	e.t.Helper()
	ctx, act := context.Background(), app.UserActor(author)
	id := changeIDOf(e.t, path)
	if _, err := e.svc.UpdateChange(ctx, act, id, app.ChangePatch{Operations: []app.OpInput{
		{Type: "ldap.user.disable", Params: []byte(`{"uid":"` + uid + `"}`)}}}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.SubmitChange(ctx, act, id); err != nil {
		e.t.Fatal(err)
	}
}

// TestConsoleDecisionPinnedToRevision: the decide form carries the revision
// the page showed; deciding after the request changed decides nothing and
// says so, with a link to the new revision. The page lists who wrote it.
func TestConsoleDecisionPinnedToRevision(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	ops := e.seedUser("ops@example.com", app.RoleOperator)
	admin := e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 1)
	opsC, appr := e.client(), e.client()
	e.login(opsC, ops.Email)
	e.login(appr, "approver@example.com")
	path := e.createChange(opsC, conn.ID, "Disable bob", uidOp("ldap.user.disable", "bob"))
	e.mustPost(opsC, path, "submit", nil)
	requireContains(t, e.get(appr, path), `name="revision" value="1"`)

	// An admin edits the operator's request: they become its co-author.
	e.editBehindApprover(admin, path, "alice")
	for _, action := range []string{"approve", "reject"} {
		r := e.refused(t, appr, e.post(appr, path+"/"+action, url.Values{"revision": {"1"}, "comment": {"saw bob"}}), path)
		// The comment typed is put back for the new revision.
		requireContains(t, r, `data-testid="change-changed"`, `data-testid="change-decision-comment">saw bob</textarea>`, "This request changed since you opened it",
			`href="`+path+`" data-testid="change-changed-link"`, `data-testid="change-revision">2<`,
			`data-testid="change-status">submitted<`, `name="revision" value="2"`,
			`data-testid="change-contributors">ops@example.com, admin@example.com<`)
	}
	if c := e.waitState(changeIDOf(t, path), app.StateSubmitted); len(c.Approvals) != 0 {
		t.Fatalf("a stale decision was recorded: %+v", c.Approvals)
	}

	// The admin co-wrote it: no decide form for them, and a refusal.
	adminC := e.client()
	e.login(adminC, admin.Email)
	if r := e.get(adminC, path); strings.Contains(r.body, `data-testid="change-approve"`) {
		t.Fatal("a contributor is offered Approve")
	}
	e.refused(t, adminC, e.post(adminC, path+"/approve", url.Values{"comment": {"mine now"}}), path)
	e.mustPost(appr, path, "approve", url.Values{"revision": {"2"}, "comment": {"saw alice"}})
}

// TestBrowserStaleApproval: an approver reads revision 1 in the browser,
// the author edits it meanwhile, and clicking Approve shows that the
// request changed since it was opened, not an approval of unseen content.
func TestBrowserStaleApproval(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true})
	ops := e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 1)
	opsC := e.client()
	e.login(opsC, ops.Email)
	path := e.createChange(opsC, conn.ID, "Disable bob", uidOp("ldap.user.disable", "bob"))
	e.mustPost(opsC, path, "submit", nil)

	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "approver", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, "approver@example.com")
	step(t, ctx, "open request", chromedp.Navigate(e.srv.URL+path))
	waitText(t, ctx, "revision 1", "change-revision", "1")
	step(t, ctx, "comment", chromedp.SendKeys(byTestID("change-decision-comment"), "bob may go"))

	e.editBehindApprover(ops, path, "alice")

	step(t, ctx, "approve", chromedp.Click(byTestID("change-approve")))
	step(t, ctx, "changed notice", chromedp.WaitVisible(byTestID("change-changed")))
	notice := step(t, ctx, "notice text", chromedp.Text(byTestID("change-changed")))
	if !strings.Contains(notice, "This request changed since you opened it") {
		t.Fatalf("notice %q", notice)
	}
	waitText(t, ctx, "still submitted", "change-status", "submitted")
	step(t, ctx, "open new revision", chromedp.Click(byTestID("change-changed-link")))
	waitText(t, ctx, "revision 2", "change-revision", "2")
	params := step(t, ctx, "params", chromedp.Text(byTestID("change-op-params")))
	if !strings.Contains(params, "alice") {
		t.Fatalf("new revision shows %q", params)
	}
	step(t, ctx, "approve revision 2", chromedp.Click(byTestID("change-approve")))
	waitText(t, ctx, "approved", "change-status", "approved")
	c := e.waitState(changeIDOf(t, path), app.StateApproved)
	if len(c.Approvals) != 1 || c.Approvals[0].Revision != 2 || c.Approvals[0].ContentHash == "" {
		t.Fatalf("approvals %+v", c.Approvals)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		// The refused approval is answered 409 by design; the browser logs it.
		if strings.Contains(p, "status of 409") && strings.HasSuffix(p, path+"/approve)") {
			continue
		}
		t.Errorf("browser reported: %s", p)
	}
}
