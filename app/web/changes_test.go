package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

func TestChangeRequestFlow(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	e.seedUser("viewer@example.com", app.RoleViewer)
	conn := e.ldapConnector(dir, 1)
	ops, appr, view := e.client(), e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	e.login(view, "viewer@example.com")

	// Two steps: the connector, then the form with that connector's types.
	r := e.get(ops, "/changes/new")
	requireContains(t, r, `data-testid="change-connector-form"`, "Directory (ldap)")
	r = e.get(ops, "/changes/new?connector="+strconv.FormatInt(conn.ID, 10))
	requireContains(t, r, `data-testid="change-form"`, `<option value="ldap.user.disable">ldap.user.disable</option>`,
		`<option value="ldap.group.add_member">ldap.group.add_member</option>`,
		`data-testid="op0-type"`, `data-testid="change-form-add-op"`, "Pick a type to see its parameters")
	if strings.Contains(r.body, `data-testid="op1-type"`) {
		t.Fatal("a new change form starts with more than one operation row")
	}

	form := opsForm(url.Values{"connector_id": {strconv.FormatInt(conn.ID, 10)}, "title": {"Offboard bob"}, "rows": {"5"}},
		uidOp("ldap.user.disable", "bob"), op{"ldap.group.add_member", map[string]string{"group": "admins", "uid": "bob"}})
	r = e.post(ops, "/changes/new", form)
	path := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !changeLocRe.MatchString(path) {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	id := changeIDOf(t, path)
	c, _ := e.svc.GetChange(context.Background(), app.SystemActor("test"), id)
	if len(c.Operations) != 2 || string(c.Operations[0].Params) != `{"uid":"bob"}` ||
		string(c.Operations[1].Params) != `{"group":"admins","uid":"bob"}` {
		t.Fatalf("stored operations: %+v", c.Operations)
	}

	r = e.get(ops, path)
	requireContains(t, r, "Draft "+strconv.FormatInt(id, 10)+" created", `data-testid="change-status">draft<`,
		`data-testid="change-connector">Directory<`, `data-testid="change-required-approvals">1 approval required<`)
	requireButtons(t, r, "change-edit", "change-submit", "change-cancel")
	// Approvers and viewers see the connector's name and policy too.
	for _, cl := range []*http.Client{appr, view} {
		r := e.get(cl, path)
		requireButtons(t, r)
		requireContains(t, r, `data-testid="change-connector">Directory<`, `data-testid="change-required-approvals">1 approval required<`)
		if strings.Contains(r.body, "connector "+strconv.FormatInt(conn.ID, 10)) {
			t.Fatal("the connector shows as an id")
		}
	}

	e.mustPost(ops, path, "submit", nil)
	r = e.get(appr, path)
	requireContains(t, r, `data-testid="change-status">submitted<`, "Will lock uid=bob (cn=Bob Roe)",
		"Will add uid=bob (cn=Bob Roe) to group admins", "0 valid approval(s) of this revision; 1 approval required")
	requireButtons(t, r, "change-approve", "change-reject")
	requireButtons(t, e.get(ops, path), "change-edit", "change-cancel")

	// Rejecting needs a comment: back to the page (PRG) with the reason.
	r = e.refused(t, appr, e.post(appr, path+"/reject", url.Values{"comment": {""}}), path, "A comment is required to reject.")
	requireContains(t, r, `data-testid="change-detail"`)

	r = e.mustPost(appr, path, "approve", url.Values{"comment": {"looks right"}})
	requireContains(t, r, `data-testid="change-status">approved<`, "looks right", "You approved change request")
	requireButtons(t, r)

	// An illegal transition says what state the request is in.
	e.refused(t, appr, e.post(appr, path+"/approve", url.Values{"comment": {"again"}}), path,
		"Cannot approve change request "+strconv.FormatInt(id, 10)+": it is approved")
	e.refused(t, ops, e.post(ops, path+"/submit", nil), path, "it is approved")
	// A viewer is refused on the page.
	e.refused(t, view, e.post(view, path+"/execute", nil), path, "Your role (viewer) cannot execute change requests; an admin or an operator can.")
	requireLocked(t, dir, "bob", false)

	requireButtons(t, e.get(ops, path), "change-edit", "change-execute")
	e.mustPost(ops, path, "execute", nil)
	e.waitState(id, app.StateSucceeded)
	r = e.get(ops, path)
	requireContains(t, r, `data-testid="change-status">succeeded<`, "locked uid=bob (cn=Bob Roe)",
		"added uid=bob (cn=Bob Roe) to admins", `data-op-status="succeeded"`)
	if strings.Contains(r.body, `hx-trigger="every 1s"`) {
		t.Fatal("a finished request still polls")
	}
	requireButtons(t, r)
	// The directory agrees.
	requireLocked(t, dir, "bob", true)
	if m := groupMembers(t, dir, "admins"); !slices.Contains(m, userDN("bob")) {
		t.Fatalf("admins members: %v", m)
	}

	// The list, with filters, status badges and the connector by name.
	r = e.get(view, "/changes?status=succeeded")
	requireContains(t, r, `data-change-id="`+strconv.FormatInt(id, 10)+`"`, `class="badge state-succeeded"`,
		`<option value="`+strconv.FormatInt(conn.ID, 10)+`">Directory</option>`, `data-testid="change-row-approvals">1 approval required<`)
	r = e.get(view, "/changes?status=draft")
	requireContains(t, r, `data-testid="changes-empty"`)
	r = e.get(view, "/changes?status=bogus")
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", r.StatusCode)
	}
	requireContains(t, r, "Unknown state")
	if r := e.get(view, "/changes"); strings.Contains(r.body, `data-testid="change-new"`) {
		t.Fatal("viewer sees New change request")
	}
	if r := e.get(view, "/changes/new"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer new form: %d", r.StatusCode)
	}

	// The dashboard lists it as recently executed, with its connector.
	r = e.get(view, "/")
	requireContains(t, r, `data-testid="card-executed"`, "Offboard bob", `data-testid="card-findings"`,
		"Directory", `data-testid="change-row-approvals">1 approval required<`)
}

func TestSelfApprovalRefused(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 1)
	admin, appr := e.client(), e.client()
	e.login(admin, "admin@example.com")
	e.login(appr, "approver@example.com")
	path := e.createChange(admin, conn.ID, "Mine", uidOp("ldap.user.disable", "alice"))
	e.mustPost(admin, path, "submit", nil)

	r := e.get(admin, path)
	requireButtons(t, r, "change-edit", "change-cancel", "change-emergency-execute")
	r = e.refused(t, admin, e.post(admin, path+"/approve", url.Values{"comment": {"me"}}), path)
	requireContains(t, r, "You cannot approve a change request you created or edited.", `data-testid="change-status">submitted<`)

	// The dashboard: waiting for the approver, not for its creator.
	requireContains(t, e.get(appr, "/"), `data-testid="card-approvals"`, "Mine", "Directory", "1 approval required")
	// Its creator finds it among their requests waiting, not in their approvals.
	r = e.get(admin, "/")
	if ids, _ := cardChangeIDs(r.body, "approvals"); len(ids) != 0 {
		t.Fatal("the creator is asked to approve their own request")
	}
	if ids, _ := cardChangeIDs(r.body, "my-waiting"); len(ids) != 1 || ids[0] != changeIDOf(t, path) {
		t.Fatalf("the creator's waiting card lists %v, want their request", ids)
	}
	requireLocked(t, dir, "alice", false)
}

func TestChangeFormErrorsAndRefresh(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.ldapConnector(dir, 1)
	c := e.client()
	e.login(c, "ops@example.com")
	cid := strconv.FormatInt(conn.ID, 10)

	// The no-JavaScript refresh shows the chosen types' parameters.
	r := e.post(c, "/changes/new", url.Values{"connector_id": {cid}, "rows": {"5"}, "title": {"T"},
		"op0_type": {"ldap.group.add_member"}, "op1_type": {"ldap.user.create"}, "refresh": {"1"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d", r.StatusCode)
	}
	requireContains(t, r, `name="op0_group"`, `name="op0_uid"`, `name="op1_uid"`, `name="op1_mail"`,
		`<textarea id="op1-groups" name="op1_groups"`, `value="T"`)
	if strings.Contains(r.body, `name="op2_uid"`) {
		t.Fatal("a row without a type shows parameters")
	}
	// The htmx row swap.
	r = e.get(c, "/changes/oprow?connector="+cid+"&index=2&op2_type=ldap.user.reset_password", "HX-Request", "true")
	requireContains(t, r, `data-testid="op-row-2"`, `name="op2_uid"`)
	if strings.Contains(r.body, "<html") {
		t.Fatal("row fragment is a whole page")
	}

	// A list parameter is one item per line.
	path := e.createChange(c, conn.ID, "New hire", op{"ldap.user.create", map[string]string{"uid": "carol", "cn": "Carol Doe",
		"sn": "Doe", "mail": "carol@example.org", "groups": "admins\r\ndevs\n"}})
	created, _ := e.svc.GetChange(context.Background(), app.SystemActor("test"), changeIDOf(t, path))
	if got := string(created.Operations[0].Params); got != `{"uid":"carol","cn":"Carol Doe","sn":"Doe","mail":"carol@example.org","groups":["admins","devs"]}` {
		t.Fatalf("stored parameters: %s", got)
	}

	tests := []struct {
		name string
		form url.Values
		msg  string
	}{
		{"no title", url.Values{"op0_type": {"ldap.user.disable"}, "op0_uid": {"kept-uid"}}, "Title is required."},
		{"no operation", url.Values{"title": {"T"}}, "needs at least one operation"},
		{"missing parameter", url.Values{"title": {"T"}, "op0_type": {"ldap.user.disable"}, "op1_type": {"ldap.user.enable"},
			"op0_uid": {"kept-uid"}}, "Operation 2: ldap.user.enable: uid is required."},
		{"bad parameter", url.Values{"title": {"T"}, "op0_type": {"ldap.group.add_member"}, "op0_uid": {"kept-uid"},
			"op0_group": {"admins"}, "op1_type": {"ldap.user.disable"}, "op1_uid": {"Bad Uid"}}, "Operation 2: ldap.user.disable: uid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("connector_id", cid)
			tc.form.Set("rows", "5")
			r := e.post(c, "/changes/new", tc.form)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d", r.StatusCode)
			}
			requireContains(t, r, `data-testid="change-form-error"`, tc.msg)
			if tc.form.Get("op0_uid") != "" {
				requireContains(t, r, `value="kept-uid"`)
			}
		})
	}
}

// TestPlanFailureRefusesSubmit: a draft may name a user that does not
// exist (its plan says so), but submitting plans strictly and refuses it.
func TestPlanFailureRefusesSubmit(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.ldapConnector(dir, 1)
	c := e.client()
	e.login(c, "ops@example.com")
	path := e.createChange(c, conn.ID, "Ghost", uidOp("ldap.user.disable", "ghost"))
	requireContains(t, e.get(c, path), "Plan unavailable: no user with uid=ghost under "+dir.UserBase)

	r := e.refused(t, c, e.post(c, path+"/submit", nil), path)
	requireContains(t, r, "Operation 1 (ldap.user.disable) cannot be planned: no user with uid=ghost",
		`data-testid="change-status">draft<`)
	requireButtons(t, r, "change-edit", "change-submit", "change-cancel")
}

// TestFailedExecution: the second operation fails at execution because
// the first deleted the user it works on; the request ends failed and the
// page says which operation failed and why.
func TestFailedExecution(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 1)
	ops, appr := e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	e.runChange(ops, appr, conn.ID, "Create carol", app.StateSucceeded, op{"ldap.user.create",
		map[string]string{"uid": "carol", "cn": "Carol Doe", "sn": "Doe", "mail": "carol@example.org"}})

	path, c := e.runChange(ops, appr, conn.ID, "Delete then disable carol", app.StateFailed,
		uidOp("ldap.user.delete", "carol"), uidOp("ldap.user.disable", "carol"))
	if c.Operations[0].Status != app.OpSucceeded || c.Operations[1].Status != app.OpFailed {
		t.Fatalf("operations: %s, %s", c.Operations[0].Status, c.Operations[1].Status)
	}
	r := e.get(appr, path)
	requireContains(t, r, `data-testid="change-status">failed<`, `data-op-status="succeeded"`, `data-op-status="failed"`,
		`data-testid="change-op-error"`, "uid=carol", "deleted uid=carol (cn=Carol Doe)")
	requireButtons(t, r)
	if strings.Contains(r.body, `hx-trigger="every 1s"`) {
		t.Fatal("a failed request still polls")
	}
	requireContains(t, e.get(appr, "/changes?status=failed"), `data-change-id="`+strconv.FormatInt(c.ID, 10)+`"`, `class="badge state-failed"`)
	requireContains(t, e.get(appr, "/"), `data-testid="card-executed"`, "Delete then disable carol")
}

func TestEditVoidsApprovals(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 1)
	ops, appr := e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	path := e.createChange(ops, conn.ID, "Edit me", uidOp("ldap.user.disable", "alice"))
	e.mustPost(ops, path, "submit", nil)
	e.mustPost(appr, path, "approve", url.Values{"comment": {"ok"}})

	r := e.get(ops, path+"/edit")
	requireContains(t, r, `data-testid="change-edit-warning"`, "voids its approvals", `value="alice"`, `value="Edit me"`,
		`<option value="ldap.user.disable" selected>`)
	form := url.Values{"title": {"Edited"}, "description": {"d"}, "rows": {"6"}, "op0_type": {"ldap.user.disable"}, "op0_uid": {"bob"}}
	r = e.post(ops, path+"/edit", form)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", r.StatusCode, r.body)
	}
	r = e.get(ops, path)
	requireContains(t, r, `data-testid="change-status">draft<`, "Edited", `class="void"`, "<s>approver@example.com",
		`data-testid="change-revision">2<`, `&#34;uid&#34;: &#34;bob&#34;`)
}

func TestEmergencyExecuteAndReview(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 2)
	admin, ops, appr := e.client(), e.client(), e.client()
	e.login(admin, "admin@example.com")
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	path := e.createChange(ops, conn.ID, "Urgent", uidOp("ldap.user.disable", "alice"))
	e.mustPost(ops, path, "submit", nil)
	requireButtons(t, e.get(admin, path), "change-edit", "change-cancel", "change-approve", "change-reject", "change-emergency-execute")
	requireContains(t, e.get(appr, path), `data-testid="change-required-approvals">2 approvals required<`)

	// A refusal keeps the justification typed, so nothing is lost.
	e.refused(t, admin, e.post(admin, path+"/emergency", url.Values{"justification": {"short"}}), path,
		"justification of at least 10 characters", `data-testid="change-emergency-justification-input">short</textarea>`)
	e.refused(t, ops, e.post(ops, path+"/emergency", url.Values{"justification": {"production is down right now"}}), path)
	requireLocked(t, dir, "alice", false)
	e.mustPost(admin, path, "emergency", url.Values{"justification": {"production is down right now"}})
	e.waitState(changeIDOf(t, path), app.StateSucceeded)
	requireLocked(t, dir, "alice", true)

	r := e.get(admin, path)
	requireContains(t, r, `data-testid="change-emergency"`, "production is down right now", "waiting for review", "locked uid=alice (cn=Alice Doe)")
	requireButtons(t, r) // the executor may not review
	requireContains(t, e.get(appr, "/"), `data-testid="card-emergency-review"`, "Urgent", "2 approvals required")
	requireButtons(t, e.get(appr, path), "change-review")
	r = e.mustPost(appr, path, "review", url.Values{"comment": {"was justified"}})
	requireContains(t, r, "reviewed", "by approver@example.com", "was justified")
	requireButtons(t, r)
}

// TestRevealSecretOnce resets alice's password: the new password is shown
// once, to the requester only, on the reveal page the reveal POST
// redirects to (never in the POST's response), and it is the password the
// directory now accepts.
func TestRevealSecretOnce(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	e.seedUser("viewer@example.com", app.RoleViewer)
	conn := e.ldapConnector(dir, 1)
	ops, appr, view := e.client(), e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	e.login(view, "viewer@example.com")
	path, c := e.runChange(ops, appr, conn.ID, "Reset alice", app.StateSucceeded, uidOp("ldap.user.reset_password", "alice"))
	opPath := path + "/operations/" + strconv.FormatInt(c.Operations[0].ID, 10) + "/reveal"

	// Every page but the reveal response, to search for the secret later.
	var pages []response
	keep := func(r response) response { pages = append(pages, r); return r }
	requireButtons(t, keep(e.get(appr, path)))
	requireButtons(t, keep(e.get(view, path)))
	r := keep(e.get(ops, path))
	requireButtons(t, r, "change-op-reveal")
	requireContains(t, r, "set a new password for uid=alice (cn=Alice Doe)")
	keep(e.refused(t, appr, keep(e.post(appr, opPath, nil)), path, "Only the requester"))
	keep(e.refused(t, view, keep(e.post(view, opPath, nil)), path))

	r = keep(e.post(ops, opPath, nil))
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/reveal/") {
		t.Fatalf("reveal: %d %s", r.StatusCode, r.body)
	}
	revealPage := r.Header.Get("Location")
	r = e.get(ops, revealPage)
	requireContains(t, r, "erased from the server", `data-testid="copy-reveal-secret"`, `href="`+path+`" data-testid="reveal-back"`)
	m := revealedRe.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no revealed secret in:\n%s", r.body)
	}
	secret := m[1]
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q", got)
	}
	requireButtons(t, r)
	// The revealed secret is alice's new password; the old one is gone.
	if err := dir.CanBind(userDN("alice"), secret); err != nil {
		t.Fatalf("alice cannot bind with the revealed password: %v", err)
	}
	if err := dir.CanBind(userDN("alice"), dir.UserPasswords["alice"]); err == nil {
		t.Fatal("alice's old password still works")
	}

	if r := keep(e.get(ops, revealPage)); r.StatusCode != http.StatusGone {
		t.Fatalf("reload of the reveal page: %d", r.StatusCode)
	}
	if r := keep(e.post(ops, opPath, nil)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("second reveal: %d", r.StatusCode)
	}
	keep(e.get(ops, path))
	keep(e.get(appr, path))
	keep(e.get(ops, "/changes"))
	keep(e.get(ops, "/"))
	audit := keep(e.get(ops, "/audit"))
	for _, m := range regexp.MustCompile(`href="(/audit/\d+)"`).FindAllStringSubmatch(audit.body, -1) {
		keep(e.get(ops, m[1]))
	}
	for _, p := range pages {
		if strings.Contains(p.body, secret) {
			t.Fatalf("the secret appears in a %s %s page (status %d)", p.Request.Method, p.Request.URL.Path, p.StatusCode)
		}
	}
}

func TestChangePagination(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	u := e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.ldapConnector(dir, 1)
	c := e.client()
	e.login(c, "ops@example.com")
	for i := range 27 {
		typ := "ldap.user.disable"
		if i%2 == 1 {
			typ = "ldap.user.enable"
		}
		if _, err := e.svc.CreateChange(context.Background(), app.UserActor(u), app.ChangeInput{
			Title: "c" + strconv.Itoa(i), ConnectorID: conn.ID,
			Operations: []app.OpInput{{Type: typ, Params: []byte(`{"uid":"alice"}`)}}}); err != nil {
			t.Fatal(err)
		}
	}
	r := e.get(c, "/changes?status=draft")
	m := regexp.MustCompile(`href="(/changes\?[^"]*)"[^>]*data-testid="changes-next"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no next link")
	}
	first := len(regexp.MustCompile(`data-testid="change-row"`).FindAllString(r.body, -1))
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	if !strings.Contains(next, "status=draft") {
		t.Fatalf("next link lost the filter: %s", next)
	}
	r = e.get(c, next)
	second := len(regexp.MustCompile(`data-testid="change-row"`).FindAllString(r.body, -1))
	if first != 25 || second != 2 || strings.Contains(r.body, `data-testid="changes-next"`) {
		t.Fatalf("pages: %d then %d", first, second)
	}
	requireContains(t, r, ">c0<", ">c1<")
}

func TestLivePollingFragment(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.ldapConnector(dir, 1)
	c := e.client()
	e.login(c, "ops@example.com")
	path := e.createChange(c, conn.ID, "Live", uidOp("ldap.user.disable", "bob"))
	r := e.get(c, path+"/live", "HX-Request", "true")
	if r.Header.Get("HX-Refresh") != "true" || strings.Contains(r.body, "<html") {
		t.Fatalf("live fragment of a draft: refresh=%q", r.Header.Get("HX-Refresh"))
	}
	requireContains(t, r, `id="change-live"`, `data-state="draft"`)
}

func TestNewRoutesRefuseCrossOrigin(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	conn := e.ldapConnector(dir, 1)
	admin := e.client()
	e.login(admin, "admin@example.com")
	path := e.createChange(admin, conn.ID, "CSRF target", uidOp("ldap.user.disable", "bob"))
	cid := "/connectors/" + strconv.FormatInt(conn.ID, 10)
	before, _ := e.svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{})
	paths := []string{"/connectors/new", cid, cid + "/test", cid + "/delete", "/changes/new", path + "/edit", path + "/submit",
		path + "/approve", path + "/reject", path + "/cancel", path + "/execute", path + "/emergency", path + "/resume",
		path + "/review", path + "/operations/1/reveal"}
	// A form that would do something if it got through: the delete is
	// confirmed, the change form complete.
	form := opsForm(ldapForm("csrf"), uidOp("ldap.user.disable", "alice"))
	form.Set("confirm", "yes")
	form.Set("title", "Forged")
	form.Set("connector_id", strconv.FormatInt(conn.ID, 10))
	form.Set("justification", "forged justification text")
	for _, p := range paths {
		for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
			r := e.post(admin, p, form, hdr...)
			if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "came from another site") {
				t.Errorf("%s %v: %d", p, hdr, r.StatusCode)
			}
		}
	}
	after, _ := e.svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{})
	if after.Events[0].ID != before.Events[0].ID {
		t.Fatalf("a cross-origin request changed something: %s", after.Events[0].Event)
	}
	requireLocked(t, dir, "bob", false)
	requireLocked(t, dir, "alice", false)
}
