package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// forgeApprove builds the approve form the page withheld and submits it
// from the page, as a user who edits the DOM would: same origin, the
// session's cookie, the revision the page shows.
const forgeApprove = `(() => {
	const f = document.createElement('form');
	f.method = 'post';
	f.action = location.pathname + '/approve';
	const fields = {revision: document.querySelector('[data-testid="change-revision"]').textContent.trim(), comment: 'mine now'};
	for (const [k, v] of Object.entries(fields)) {
		const i = document.createElement('input');
		i.type = 'hidden'; i.name = k; i.value = v;
		f.appendChild(i);
	}
	document.body.appendChild(f);
	f.submit();
	return true;
})()`

// requireNoProblems fails on any browser error but the one refusal the
// test provoked: a browser logs each 4xx page it loads as an error.
func requireNoProblems(t *testing.T, mu *sync.Mutex, problems *[]string, status, url string) {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for _, p := range *problems {
		if strings.Contains(p, "status of "+status) && strings.HasSuffix(p, "("+url+")") {
			continue
		}
		t.Errorf("browser reported: %s", p)
	}
}

// TestBrowserContributorNeverApproves: an admin edits an operator's
// submitted request in the edit form, so they wrote part of it. Once it is
// submitted again, the admin's page names them under "Written by" and
// offers no decision, a decision forged in that page is refused with the
// reason, and another approver can still approve.
func TestBrowserContributorNeverApproves(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true})
	ops := e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 1)
	opsC := e.client()
	e.login(opsC, ops.Email)
	path := e.createChange(opsC, conn.ID, "Disable bob", uidOp("ldap.user.disable", "bob"))
	e.mustPost(opsC, path, "submit", nil)

	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "admin", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, "admin@example.com")
	step(t, ctx, "open request", chromedp.Navigate(e.srv.URL+path))
	waitText(t, ctx, "submitted", "change-status", "submitted")
	// Before the edit the admin is a stranger to it and may decide.
	step(t, ctx, "decide form", chromedp.WaitVisible(byTestID("change-approve")))

	step(t, ctx, "edit", chromedp.Click(byTestID("change-edit")))
	step(t, ctx, "edit warning", chromedp.WaitVisible(byTestID("change-edit-warning")))
	step(t, ctx, "change uid", chromedp.SetValue(byTestID("op0-uid"), "alice"))
	step(t, ctx, "save", chromedp.Click(byTestID("change-form-submit")))
	waitText(t, ctx, "back to draft", "change-status", "draft")

	e.mustPost(opsC, path, "submit", nil)

	step(t, ctx, "reload", chromedp.Navigate(e.srv.URL+path))
	waitText(t, ctx, "resubmitted", "change-status", "submitted")
	waitText(t, ctx, "revision 2", "change-revision", "2")
	if got := step(t, ctx, "contributors", chromedp.Text(byTestID("change-contributors"))); got != "ops@example.com, admin@example.com" {
		t.Fatalf("written by %q", got)
	}
	if params := step(t, ctx, "params", chromedp.Text(byTestID("change-op-params"))); !strings.Contains(params, "alice") {
		t.Fatalf("the admin's edit is not what was submitted: %q", params)
	}
	actions := step(t, ctx, "actions", chromedp.OuterHTML(byTestID("change-actions")))
	for _, id := range []string{"change-decide-form", "change-approve", "change-reject"} {
		if strings.Contains(actions, `data-testid="`+id+`"`) {
			t.Fatalf("a contributor is offered %s:\n%s", id, actions)
		}
	}

	step(t, ctx, "forge approve", chromedp.Evaluate[bool](forgeApprove))
	step(t, ctx, "refusal", chromedp.WaitVisible(byTestID("flash-error")))
	if msg := step(t, ctx, "refusal text", chromedp.Text(byTestID("flash-error"))); !strings.Contains(msg,
		"You cannot approve a change request you created or edited.") {
		t.Fatalf("refusal %q", msg)
	}
	waitText(t, ctx, "still submitted", "change-status", "submitted")
	if c := e.waitState(changeIDOf(t, path), app.StateSubmitted); len(c.Approvals) != 0 {
		t.Fatalf("the contributor's approval was recorded: %+v", c.Approvals)
	}

	// Someone who wrote none of it approves what the admin wrote.
	apprCtx, cancelAppr := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelAppr()
	watchProblems(t, apprCtx, "approver", &mu, &problems)
	browserLogin(t, apprCtx, e.srv.URL, "approver@example.com")
	step(t, apprCtx, "open request", chromedp.Navigate(e.srv.URL+path))
	waitText(t, apprCtx, "revision 2", "change-revision", "2")
	step(t, apprCtx, "comment", chromedp.SendKeys(byTestID("change-decision-comment"), "alice may go"))
	step(t, apprCtx, "approve", chromedp.Click(byTestID("change-approve")))
	waitText(t, apprCtx, "approved", "change-status", "approved")
	c := e.waitState(changeIDOf(t, path), app.StateApproved)
	if len(c.Approvals) != 1 || c.Approvals[0].Revision != 2 {
		t.Fatalf("approvals %+v", c.Approvals)
	}
	requireNoProblems(t, &mu, &problems, "403", e.srv.URL+path+"/approve")
}

// TestBrowserExecuteRechecksApprovals: approver A approves in the browser,
// then A is disabled. The operator's Execute is refused on the page with
// the reason, the request is back to submitted, and the directory is
// untouched: A's approval no longer counts.
func TestBrowserExecuteRechecksApprovals(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true})
	ops := e.seedUser("ops@example.com", app.RoleOperator)
	approverA := e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 1)
	opsC := e.client()
	e.login(opsC, ops.Email)
	path := e.createChange(opsC, conn.ID, "Disable bob", uidOp("ldap.user.disable", "bob"))
	e.mustPost(opsC, path, "submit", nil)

	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "approver", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, approverA.Email)
	step(t, ctx, "open request", chromedp.Navigate(e.srv.URL+path))
	step(t, ctx, "comment", chromedp.SendKeys(byTestID("change-decision-comment"), "bob may go"))
	step(t, ctx, "approve", chromedp.Click(byTestID("change-approve")))
	waitText(t, ctx, "approved", "change-status", "approved")

	disabled := true
	if _, err := e.svc.UpdateUser(context.Background(), app.SystemActor("test"), approverA.ID,
		app.UserPatch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}

	opsCtx, cancelOps := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancelOps()
	watchProblems(t, opsCtx, "operator", &mu, &problems)
	browserLogin(t, opsCtx, e.srv.URL, ops.Email)
	step(t, opsCtx, "open request", chromedp.Navigate(e.srv.URL+path))
	waitText(t, opsCtx, "approved", "change-status", "approved")
	step(t, opsCtx, "execute", chromedp.Click(byTestID("change-execute")))
	step(t, opsCtx, "refusal", chromedp.WaitVisible(byTestID("flash-error")))
	msg := step(t, opsCtx, "refusal text", chromedp.Text(byTestID("flash-error")))
	for _, want := range []string{"cannot run", "0 valid approval(s) of the 1", "back to submitted"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("refusal %q lacks %q", msg, want)
		}
	}
	waitText(t, opsCtx, "back to submitted", "change-status", "submitted")

	c := e.waitState(changeIDOf(t, path), app.StateSubmitted)
	if !c.StartedAt.IsZero() || c.Operations[0].Status != app.OpPending {
		t.Fatalf("the request ran: started %v, operation %s", c.StartedAt, c.Operations[0].Status)
	}
	requireLocked(t, dir, "bob", false)
	requireNoProblems(t, &mu, &problems, "409", e.srv.URL+path+"/execute")
}
