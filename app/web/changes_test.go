package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// fakeConnector adds a connector of the fake type.
func (e *env) fakeConnector(approvals int) *app.Connector {
	e.t.Helper()
	c, err := e.svc.CreateConnector(context.Background(), app.SystemActor("test"), app.ConnectorInput{
		Name: "fake target", Type: fakeType, Config: []byte(`{"label":"x"}`), Credentials: []byte(`{"token":"fake-token"}`),
		RequiredApprovals: &approvals})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

var changeLocRe = regexp.MustCompile(`^/changes/(\d+)$`)

// createChange posts the change form and returns the new request's path.
func (e *env) createChange(c *http.Client, connectorID int64, title string, ops ...[2]string) string {
	e.t.Helper()
	form := url.Values{"connector_id": {strconv.FormatInt(connectorID, 10)}, "title": {title},
		"description": {"because"}, "rows": {"5"}}
	for i, op := range ops {
		form.Set("op"+strconv.Itoa(i)+"_type", op[0])
		form.Set("op"+strconv.Itoa(i)+"_target", op[1])
	}
	r := e.post(c, "/changes", form)
	if r.StatusCode != http.StatusSeeOther || !changeLocRe.MatchString(r.Header.Get("Location")) {
		e.t.Fatalf("create change: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	return r.Header.Get("Location")
}

// mustPost posts and wants the redirect back to path.
func (e *env) mustPost(c *http.Client, path, action string, form url.Values) {
	e.t.Helper()
	r := e.post(c, path+"/"+action, form)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		e.t.Fatalf("%s %s: %d %q\n%s", action, path, r.StatusCode, r.Header.Get("Location"), r.body)
	}
}

func changeIDOf(t *testing.T, path string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(strings.TrimPrefix(path, "/changes/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitState waits for the engine to bring a request to a state.
func (e *env) waitState(id int64, want app.ChangeState) *app.ChangeRequest {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := e.svc.GetChange(context.Background(), app.SystemActor("test"), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if c.State == want {
			return c
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("change %d is %s, want %s", id, c.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testIDs(body string) map[string]bool {
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`data-testid="([a-z0-9-]+)"`).FindAllStringSubmatch(body, -1) {
		out[m[1]] = true
	}
	return out
}

// requireButtons checks exactly which action buttons a page offers.
func requireButtons(t *testing.T, r response, want ...string) {
	t.Helper()
	all := []string{"change-edit", "change-submit", "change-approve", "change-reject", "change-cancel",
		"change-execute", "change-emergency-execute", "change-resume", "change-review", "change-op-reveal"}
	ids := testIDs(r.body)
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	for _, b := range all {
		if ids[b] != wanted[b] {
			t.Errorf("button %s shown=%v, want %v", b, ids[b], wanted[b])
		}
	}
}

func TestChangeRequestFlow(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	e.seedUser("viewer@example.com", app.RoleViewer)
	conn := e.fakeConnector(1)
	ops, appr, view := e.client(), e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	e.login(view, "viewer@example.com")

	// Two steps: the connector, then the form with that connector's types.
	r := e.get(ops, "/changes/new")
	requireContains(t, r, `data-testid="change-connector-form"`, "fake target (fake)")
	r = e.get(ops, "/changes/new?connector="+strconv.FormatInt(conn.ID, 10))
	requireContains(t, r, `data-testid="change-form"`, `<option value="fake.noop">fake.noop</option>`,
		`data-testid="op4-type"`, "Pick a type to see its parameters")

	form := url.Values{"connector_id": {strconv.FormatInt(conn.ID, 10)}, "title": {"Touch x"}, "rows": {"5"},
		"op0_type": {"fake.noop"}, "op0_target": {"x"}, "op0_tags": {"a\r\nb\n"}, "op0_force": {"true"}}
	r = e.post(ops, "/changes", form)
	path := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !changeLocRe.MatchString(path) {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	id := changeIDOf(t, path)
	c, _ := e.svc.GetChange(context.Background(), app.SystemActor("test"), id)
	if len(c.Operations) != 1 || string(c.Operations[0].Params) != `{"target":"x","tags":["a","b"],"force":true}` {
		t.Fatalf("stored operations: %+v", c.Operations)
	}

	r = e.get(ops, path)
	requireContains(t, r, "Draft "+strconv.FormatInt(id, 10)+" created", `data-testid="change-status">draft<`, "fake target")
	requireButtons(t, r, "change-edit", "change-submit", "change-cancel")
	requireButtons(t, e.get(appr, path))
	requireButtons(t, e.get(view, path))

	e.mustPost(ops, path, "submit", nil)
	r = e.get(appr, path)
	requireContains(t, r, `data-testid="change-status">submitted<`, "would touch x tags=a,b")
	requireButtons(t, r, "change-approve", "change-reject")
	requireButtons(t, e.get(ops, path), "change-edit", "change-cancel")

	// Rejecting needs a comment: a readable 400 on the page.
	r = e.post(appr, path+"/reject", url.Values{"comment": {""}})
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("reject without comment: %d", r.StatusCode)
	}
	requireContains(t, r, `data-testid="change-error"`, "a comment is required to reject", `data-testid="change-detail"`)

	e.mustPost(appr, path, "approve", url.Values{"comment": {"looks right"}})
	r = e.get(appr, path)
	requireContains(t, r, `data-testid="change-status">approved<`, "looks right", "You approved change request")
	requireButtons(t, r)

	// An illegal transition says what state the request is in.
	r = e.post(appr, path+"/approve", url.Values{"comment": {"again"}})
	if r.StatusCode != http.StatusConflict {
		t.Fatalf("approve twice: %d", r.StatusCode)
	}
	requireContains(t, r, "cannot approve change request "+strconv.FormatInt(id, 10)+": it is approved")
	r = e.post(ops, path+"/submit", nil)
	if r.StatusCode != http.StatusConflict {
		t.Fatalf("submit approved: %d", r.StatusCode)
	}
	requireContains(t, r, "it is approved")
	// A viewer is refused on the page, with 403.
	if r := e.post(view, path+"/execute", nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer execute: %d", r.StatusCode)
	} else {
		requireContains(t, r, "your role may not do this")
	}

	requireButtons(t, e.get(ops, path), "change-edit", "change-execute")
	e.mustPost(ops, path, "execute", nil)
	e.waitState(id, app.StateSucceeded)
	r = e.get(ops, path)
	requireContains(t, r, `data-testid="change-status">succeeded<`, "touched x", `data-op-status="succeeded"`)
	if strings.Contains(r.body, `hx-trigger="every 1s"`) {
		t.Fatal("a finished request still polls")
	}
	requireButtons(t, r)

	// The list, with filters and status badges.
	r = e.get(view, "/changes?status=succeeded")
	requireContains(t, r, `data-change-id="`+strconv.FormatInt(id, 10)+`"`, `class="badge state-succeeded"`)
	r = e.get(view, "/changes?status=draft")
	requireContains(t, r, `data-testid="changes-empty"`)
	r = e.get(view, "/changes?status=bogus")
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", r.StatusCode)
	}
	requireContains(t, r, "unknown state")
	if r := e.get(view, "/changes"); strings.Contains(r.body, `data-testid="change-new"`) {
		t.Fatal("viewer sees New change request")
	}
	if r := e.get(view, "/changes/new"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer new form: %d", r.StatusCode)
	}

	// The dashboard lists it as recently executed.
	r = e.get(view, "/")
	requireContains(t, r, `data-testid="card-executed"`, "Touch x", `data-testid="card-findings"`)
}

func TestSelfApprovalRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.fakeConnector(1)
	admin, appr := e.client(), e.client()
	e.login(admin, "admin@example.com")
	e.login(appr, "approver@example.com")
	path := e.createChange(admin, conn.ID, "Mine", [2]string{"fake.noop", "y"})
	e.mustPost(admin, path, "submit", nil)

	r := e.get(admin, path)
	requireButtons(t, r, "change-edit", "change-cancel", "change-emergency-execute")
	r = e.post(admin, path+"/approve", url.Values{"comment": {"me"}})
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("self-approval: %d", r.StatusCode)
	}
	requireContains(t, r, `data-testid="change-error"`, "you cannot approve your own change request", `data-testid="change-status">submitted<`)

	// The dashboard: waiting for the approver, not for its creator.
	requireContains(t, e.get(appr, "/"), `data-testid="card-approvals"`, "Mine")
	if r := e.get(admin, "/"); strings.Contains(r.body, ">Mine<") {
		t.Fatal("the creator is asked to approve their own request")
	}
}

func TestChangeFormErrorsAndRefresh(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.fakeConnector(1)
	c := e.client()
	e.login(c, "ops@example.com")
	cid := strconv.FormatInt(conn.ID, 10)

	// The no-JavaScript refresh shows the chosen type's parameters.
	r := e.post(c, "/changes", url.Values{"connector_id": {cid}, "rows": {"5"}, "title": {"T"}, "op0_type": {"fake.noop"}, "refresh": {"1"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d", r.StatusCode)
	}
	requireContains(t, r, `name="op0_target"`, `name="op0_tags"`, `name="op0_force"`, `value="T"`)
	if strings.Contains(r.body, `name="op1_target"`) {
		t.Fatal("a row without a type shows parameters")
	}
	// The htmx row swap.
	r = e.get(c, "/changes/oprow?connector="+cid+"&index=2&op2_type=fake.secret", "HX-Request", "true")
	requireContains(t, r, `data-testid="op-row-2"`, `name="op2_target"`)
	if strings.Contains(r.body, "<html") {
		t.Fatal("row fragment is a whole page")
	}

	tests := []struct {
		name string
		form url.Values
		msg  string
	}{
		{"no title", url.Values{"op0_type": {"fake.noop"}, "op0_target": {"kept-target"}}, "title is required"},
		{"no operation", url.Values{"title": {"T"}}, "needs at least one operation"},
		{"missing parameter", url.Values{"title": {"T"}, "op0_type": {"fake.noop"}, "op1_type": {"fake.noop"}, "op0_target": {"kept-target"}}, "operation 2: fake.noop: target is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("connector_id", cid)
			tc.form.Set("rows", "5")
			r := e.post(c, "/changes", tc.form)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d", r.StatusCode)
			}
			requireContains(t, r, `data-testid="change-form-error"`, tc.msg)
			if tc.form.Get("op0_target") != "" {
				requireContains(t, r, `value="kept-target"`)
			}
		})
	}
}

func TestEditVoidsApprovals(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.fakeConnector(1)
	ops, appr := e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	path := e.createChange(ops, conn.ID, "Edit me", [2]string{"fake.noop", "one"})
	e.mustPost(ops, path, "submit", nil)
	e.mustPost(appr, path, "approve", url.Values{"comment": {"ok"}})

	r := e.get(ops, path+"/edit")
	requireContains(t, r, `data-testid="change-edit-warning"`, "voids its approvals", `value="one"`, `value="Edit me"`,
		`<option value="fake.noop" selected>`)
	form := url.Values{"title": {"Edited"}, "description": {"d"}, "rows": {"6"}, "op0_type": {"fake.noop"}, "op0_target": {"two"}}
	r = e.post(ops, path+"/edit", form)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", r.StatusCode, r.body)
	}
	r = e.get(ops, path)
	requireContains(t, r, `data-testid="change-status">draft<`, "Edited", `class="void"`, "<s>approver@example.com", `data-testid="change-revision">2<`)
}

func TestEmergencyExecuteAndReview(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.fakeConnector(2)
	admin, ops, appr := e.client(), e.client(), e.client()
	e.login(admin, "admin@example.com")
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	path := e.createChange(ops, conn.ID, "Urgent", [2]string{"fake.noop", "z"})
	e.mustPost(ops, path, "submit", nil)
	requireButtons(t, e.get(admin, path), "change-edit", "change-cancel", "change-approve", "change-reject", "change-emergency-execute")

	r := e.post(admin, path+"/emergency", url.Values{"justification": {"short"}})
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("short justification: %d", r.StatusCode)
	}
	requireContains(t, r, "justification of at least 10 characters")
	if r := e.post(ops, path+"/emergency", url.Values{"justification": {"production is down right now"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("operator emergency: %d", r.StatusCode)
	}
	e.mustPost(admin, path, "emergency", url.Values{"justification": {"production is down right now"}})
	e.waitState(changeIDOf(t, path), app.StateSucceeded)

	r = e.get(admin, path)
	requireContains(t, r, `data-testid="change-emergency"`, "production is down right now", "waiting for review")
	requireButtons(t, r) // the executor may not review
	requireContains(t, e.get(appr, "/"), `data-testid="card-emergency-review"`, "Urgent")
	requireButtons(t, e.get(appr, path), "change-review")
	e.mustPost(appr, path, "review", url.Values{"comment": {"was justified"}})
	r = e.get(appr, path)
	requireContains(t, r, "reviewed", "by approver@example.com", "was justified")
	requireButtons(t, r)
}

func TestRevealSecretOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.fakeConnector(1)
	ops, appr := e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	path := e.createChange(ops, conn.ID, "Secret", [2]string{"fake.secret", "s"})
	e.mustPost(ops, path, "submit", nil)
	e.mustPost(appr, path, "approve", nil)
	e.mustPost(ops, path, "execute", nil)
	c := e.waitState(changeIDOf(t, path), app.StateSucceeded)
	opPath := path + "/operations/" + strconv.FormatInt(c.Operations[0].ID, 10) + "/reveal"

	requireButtons(t, e.get(appr, path))
	r := e.get(ops, path)
	requireButtons(t, r, "change-op-reveal")
	if strings.Contains(r.body, fakeSecret) {
		t.Fatal("secret on the page before reveal")
	}
	if r := e.post(appr, opPath, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("approver reveal: %d", r.StatusCode)
	}
	r = e.post(ops, opPath, nil)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("reveal: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, r, `data-testid="change-revealed-secret">`+fakeSecret+"<", "will not be shown again")
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q", got)
	}
	requireButtons(t, r)
	if r := e.post(ops, opPath, nil); r.StatusCode != http.StatusNotFound || strings.Contains(r.body, fakeSecret) {
		t.Fatalf("second reveal: %d", r.StatusCode)
	}
	if r := e.get(ops, path); strings.Contains(r.body, fakeSecret) {
		t.Fatal("secret shown again")
	}
}

func TestChangePagination(t *testing.T) {
	e := newEnv(t, envOpts{})
	u := e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.fakeConnector(1)
	c := e.client()
	e.login(c, "ops@example.com")
	for i := range 27 {
		if _, err := e.svc.CreateChange(context.Background(), app.UserActor(u), app.ChangeInput{
			Title: "c" + strconv.Itoa(i), ConnectorID: conn.ID,
			Operations: []app.OpInput{{Type: "fake.noop", Params: []byte(`{"target":"t"}`)}}}); err != nil {
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
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.fakeConnector(1)
	c := e.client()
	e.login(c, "ops@example.com")
	path := e.createChange(c, conn.ID, "Live", [2]string{"fake.noop", "x"})
	r := e.get(c, path+"/live", "HX-Request", "true")
	if r.Header.Get("HX-Refresh") != "true" || strings.Contains(r.body, "<html") {
		t.Fatalf("live fragment of a draft: refresh=%q", r.Header.Get("HX-Refresh"))
	}
	requireContains(t, r, `id="change-live"`, `data-state="draft"`)
}

func TestNewRoutesRefuseCrossOrigin(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	conn := e.fakeConnector(1)
	admin := e.client()
	e.login(admin, "admin@example.com")
	path := e.createChange(admin, conn.ID, "CSRF target", [2]string{"fake.noop", "x"})
	cid := "/connectors/" + strconv.FormatInt(conn.ID, 10)
	before, _ := e.svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{})
	paths := []string{"/connectors", cid, cid + "/test", cid + "/delete", "/changes", path + "/edit", path + "/submit",
		path + "/approve", path + "/reject", path + "/cancel", path + "/execute", path + "/emergency", path + "/resume",
		path + "/review", path + "/operations/1/reveal"}
	for _, p := range paths {
		for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
			r := e.post(admin, p, ldapForm("csrf"), hdr...)
			if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "came from another site") {
				t.Errorf("%s %v: %d", p, hdr, r.StatusCode)
			}
		}
	}
	after, _ := e.svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{})
	if after.Events[0].ID != before.Events[0].ID {
		t.Fatalf("a cross-origin request changed something: %s", after.Events[0].Event)
	}
}
