package web_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// inventoryEnv is a console with an LDAP connector to a real slapd and a
// logged-in client per role.
type inventoryEnv struct {
	*env
	dir                     *ldaptest.Server
	conn                    *app.Connector
	cid                     string // "/connectors/N"
	admin, ops, appr, viewr *http.Client
}

func newInventoryEnv(t *testing.T) *inventoryEnv {
	t.Helper()
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	ie := &inventoryEnv{env: e, dir: dir}
	for _, u := range []struct {
		email string
		role  app.Role
		c     **http.Client
	}{
		{"admin@example.com", app.RoleAdmin, &ie.admin}, {"ops@example.com", app.RoleOperator, &ie.ops},
		{"appr@example.com", app.RoleApprover, &ie.appr}, {"viewer@example.com", app.RoleViewer, &ie.viewr},
	} {
		e.seedUser(u.email, u.role)
		*u.c = e.client()
		e.login(*u.c, u.email)
	}
	ie.conn = e.ldapConnector(dir, 1)
	ie.cid = "/connectors/" + strconv.FormatInt(ie.conn.ID, 10)
	return ie
}

// syncPage presses "Sync now" as the admin (with htmx) and returns the box.
func (e *inventoryEnv) syncPage() response {
	e.t.Helper()
	r := e.post(e.admin, e.cid+"/sync", nil, "HX-Request", "true")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `data-testid="connector-sync-ok"`) {
		e.t.Fatalf("sync: %d\n%s", r.StatusCode, r.body)
	}
	return r
}

// syncCount reads one number of the sync result box.
func syncCount(t *testing.T, r response, key string) int {
	t.Helper()
	m := regexp.MustCompile(`data-testid="sync-` + key + `"><strong>(\d+)</strong>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no sync-%s in\n%s", key, r.body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// assetOf finds an asset by kind and name through the service.
func (e *inventoryEnv) assetOf(kind, name string) int64 {
	e.t.Helper()
	page, err := e.svc.ListAssets(context.Background(), app.SystemActor("test"), app.AssetFilter{Kind: kind, Text: name}, "")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, a := range page.Assets {
		if a.Name == name {
			return a.ID
		}
	}
	e.t.Fatalf("no %s asset %s", kind, name)
	return 0
}

func (e *inventoryEnv) rootModify(dn string, f func(*goldap.ModifyRequest)) {
	e.t.Helper()
	req := goldap.NewModifyRequest(dn, nil)
	f(req)
	if err := e.dir.Admin(e.t).Modify(req); err != nil {
		e.t.Fatal(err)
	}
}

var assetRowRe = regexp.MustCompile(`data-testid="asset-row-name"><a href="/assets/\d+">([^<]+)</a>`)

// assetNames lists the names in an assets page, in order.
func assetNames(body string) []string {
	var out []string
	for _, m := range assetRowRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func requireNames(t *testing.T, r response, want ...string) {
	t.Helper()
	got := assetNames(r.body)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("assets %v, want %v (status %d)", got, want, r.StatusCode)
	}
}

// requireNoSecrets checks that no page shows a password of the directory.
func (e *inventoryEnv) requireNoSecrets(rs ...response) {
	e.t.Helper()
	secrets := []string{e.dir.BindPassword, e.dir.RootPassword}
	for _, p := range e.dir.UserPasswords {
		secrets = append(secrets, p)
	}
	for _, r := range rs {
		for _, s := range secrets {
			if s != "" && strings.Contains(r.body, s) {
				e.t.Errorf("a page (%s) shows a secret", r.Request.URL.Path)
			}
		}
	}
}

func TestSyncAndAssetSearch(t *testing.T) {
	e := newInventoryEnv(t)
	before := e.get(e.admin, e.cid)
	requireContains(t, before, `data-testid="connector-sync"`, `data-testid="sync-never"`)
	for _, c := range []*http.Client{e.ops, e.appr, e.viewr} {
		if r := e.post(c, e.cid+"/sync", nil); r.StatusCode != http.StatusForbidden {
			t.Errorf("non-admin sync: %d", r.StatusCode)
		}
	}
	if r := e.get(e.viewr, "/assets"); r.StatusCode != 200 || !strings.Contains(r.body, `data-testid="assets-empty"`) {
		t.Fatalf("assets before any sync: %d", r.StatusCode)
	}

	// "Sync now" with htmx answers the box alone, with the result and state.
	box := e.syncPage()
	if strings.Contains(box.body, "<html") || syncCount(t, box, "seen") != 4 || syncCount(t, box, "appeared") != 4 ||
		syncCount(t, box, "drift") != 0 {
		t.Fatalf("sync box:\n%s", box.body)
	}
	requireContains(t, box, `data-testid="sync-last-finished">`, `data-testid="sync-assets">4</dd>`, `data-testid="sync-next-due">`)
	// Without JavaScript the browser goes back to the connector page
	// (PRG), the counts in a flash.
	page := e.post(e.admin, e.cid+"/sync", nil)
	if page.StatusCode != http.StatusSeeOther || page.Header.Get("Location") != e.cid {
		t.Fatalf("sync without htmx: %d %q", page.StatusCode, page.Header.Get("Location"))
	}
	requireContains(t, e.get(e.admin, e.cid), `data-testid="flash"`, "Sync finished: 4 seen, 0 appeared")
	detail := e.get(e.admin, e.cid)
	if strings.Contains(detail.body, `data-testid="sync-never"`) || !strings.Contains(detail.body, `data-testid="sync-last-error"><span class="muted">none`) {
		t.Errorf("connector page after sync:\n%s", detail.body)
	}

	// Every role may read; newest first.
	for _, c := range []*http.Client{e.admin, e.ops, e.appr, e.viewr} {
		r := e.get(c, "/assets")
		requireNames(t, r, "devs", "admins", "bob", "alice")
	}
	all := e.get(e.viewr, "/assets")
	requireContains(t, all, `<code data-testid="asset-row-kind">ldap.user</code>`, `data-testid="asset-row-connector">Directory</td>`,
		`<option value="ldap.user">LDAP account (ldap.user)</option>`, `<option value="`+strconv.FormatInt(e.conn.ID, 10)+`">Directory</option>`,
		`<option value="ldap.user.locked_but_privileged">`)
	if strings.Contains(all.body, "aws.iam") {
		t.Error("kinds of a driver this server lacks are offered")
	}
	// Search is case-insensitive; filters combine; htmx gets the results only.
	requireNames(t, e.get(e.viewr, "/assets?q=ALI"), "alice")
	frag := e.get(e.viewr, "/assets?q=BO", "HX-Request", "true")
	if strings.Contains(frag.body, "<html") || !strings.Contains(frag.body, `id="asset-results"`) {
		t.Errorf("htmx fragment:\n%s", frag.body)
	}
	requireNames(t, frag, "bob")
	requireNames(t, e.get(e.viewr, "/assets?kind=ldap.group"), "devs", "admins")
	requireNames(t, e.get(e.viewr, "/assets?kind=ldap.user&connector="+strconv.FormatInt(e.conn.ID, 10)), "bob", "alice")
	requireNames(t, e.get(e.viewr, "/assets?connector=999"))
	requireNames(t, e.get(e.viewr, "/assets?finding=any"))
	requireContains(t, e.get(e.viewr, "/assets?kind=ldap.group"), `<option value="ldap.group" selected>`)

	// Keyset pagination keeps the filters.
	r := e.get(e.viewr, "/assets?kind=ldap.user&limit=1")
	requireNames(t, r, "bob")
	m := regexp.MustCompile(`href="(/assets\?[^"]+)"[^>]*data-testid="assets-next"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no next link:\n%s", r.body)
	}
	next := html.UnescapeString(m[1])
	if !strings.Contains(next, "kind=ldap.user") || !strings.Contains(next, "cursor=") {
		t.Fatalf("next link %s", next)
	}
	r = e.get(e.viewr, next)
	requireNames(t, r, "alice")
	if strings.Contains(r.body, `data-testid="assets-next"`) {
		t.Error("a next link on the last page")
	}

	// Bad filters are readable 400s, in the fragment too.
	for _, q := range []string{"connector=abc", "limit=0", "limit=x", "cursor=garbage", "q=" + strings.Repeat("a", 201)} {
		r := e.get(e.viewr, "/assets?"+q)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, `data-testid="assets-error"`) {
			t.Errorf("%s: %d", q, r.StatusCode)
		}
	}
	if r := e.get(e.viewr, "/assets?limit=0", "HX-Request", "true"); r.StatusCode != 400 || strings.Contains(r.body, "<html") {
		t.Errorf("bad filter fragment: %d", r.StatusCode)
	}

	// An asset that is gone is hidden unless asked for, and marked.
	mallory := "uid=mallory," + ldaptest.UserBase
	add := goldap.NewAddRequest(mallory, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"mallory"})
	add.Attribute("cn", []string{"Mallory"})
	add.Attribute("sn", []string{"M"})
	l := e.dir.Admin(t)
	if err := l.Add(add); err != nil {
		t.Fatal(err)
	}
	e.syncPage()
	if err := l.Del(goldap.NewDelRequest(mallory, nil)); err != nil {
		t.Fatal(err)
	}
	if box := e.syncPage(); syncCount(t, box, "disappeared") != 1 {
		t.Errorf("disappeared:\n%s", box.body)
	}
	requireNames(t, e.get(e.viewr, "/assets?q=mallory"))
	gone := e.get(e.viewr, "/assets?q=mallory&include_gone=true")
	requireNames(t, gone, "mallory")
	requireContains(t, gone, `data-testid="asset-row-gone"`, `name="include_gone" value="true" checked`)
	id := e.assetOfGone("mallory")
	requireContains(t, e.get(e.viewr, "/assets/"+strconv.FormatInt(id, 10)), `data-testid="asset-gone"`)

	if r := e.get(e.viewr, "/assets/999999"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown asset: %d", r.StatusCode)
	}
	if r := e.get(e.viewr, "/assets/abc"); r.StatusCode != http.StatusNotFound {
		t.Errorf("bad asset id: %d", r.StatusCode)
	}
	e.requireNoSecrets(box, page, detail, all, e.get(e.viewr, "/assets/"+strconv.FormatInt(e.assetOf("ldap.user", "alice"), 10)))
}

func (e *inventoryEnv) assetOfGone(name string) int64 {
	e.t.Helper()
	page, err := e.svc.ListAssets(context.Background(), app.SystemActor("test"), app.AssetFilter{Text: name, IncludeGone: true}, "")
	if err != nil || len(page.Assets) != 1 {
		e.t.Fatalf("gone asset %s: %v %v", name, page, err)
	}
	return page.Assets[0].ID
}

var remedyRe = regexp.MustCompile(`href="(/changes/new\?[^"]+)"[^>]*data-testid="asset-finding-remedy"`)

// TestFindingsRemedyAndDrift locks alice directly in the directory: the
// sync sees drift and a finding; the finding's remedy link pre-fills a
// change request that fixes it; the drift shows on the dashboard until an
// operator acknowledges it.
func TestFindingsRemedyAndDrift(t *testing.T) {
	e := newInventoryEnv(t)
	// admins must keep a member when alice leaves it (groupOfNames), so
	// bob joins it before the baseline sync.
	e.rootModify("cn=admins,"+ldaptest.GroupBase, func(r *goldap.ModifyRequest) { r.Add("member", []string{userDN("bob")}) })
	e.syncPage()
	dash := e.get(e.viewr, "/")
	requireContains(t, dash, `data-testid="card-findings"`, `data-testid="card-drift"`, `data-testid="drift-empty"`,
		`data-testid="findings-empty"`, `data-testid="card-agents"`)

	// Out of band: lock alice directly.
	e.rootModify(userDN("alice"), func(r *goldap.ModifyRequest) { r.Add("pwdAccountLockedTime", []string{"000001010000Z"}) })
	box := e.syncPage()
	if syncCount(t, box, "drift") != 1 || syncCount(t, box, "changed") != 1 || syncCount(t, box, "findings-open") != 1 {
		t.Fatalf("sync after the lock:\n%s", box.body)
	}
	alice := e.assetOf("ldap.user", "alice")
	aliceURL := "/assets/" + strconv.FormatInt(alice, 10)

	// The list filters by finding and shows the badge.
	any := e.get(e.viewr, "/assets?finding=any")
	requireNames(t, any, "alice")
	requireContains(t, any, `class="badge sev-high" title="ldap.user.locked_but_privileged" data-testid="asset-row-finding">high</span>`)
	requireNames(t, e.get(e.viewr, "/assets?finding=ldap.user.locked_but_privileged"), "alice")
	requireNames(t, e.get(e.viewr, "/assets?finding=ldap.user.password_too_old"))

	// The asset page: attributes, the finding; a viewer gets no remedy
	// link and no revoke form.
	vp := e.get(e.viewr, aliceURL)
	requireContains(t, vp, `data-testid="asset-name">alice</h1>`, `data-rule="ldap.user.locked_but_privileged"`,
		`data-testid="asset-finding-severity">high</span>`, `data-key="locked"`, `data-key="groups"`, "admins, devs")
	if strings.Contains(vp.body, "asset-finding-remedy") || strings.Contains(vp.body, "asset-revoke") {
		t.Error("a viewer is offered a remedy or revoke")
	}
	op := e.get(e.ops, aliceURL)
	m := remedyRe.FindStringSubmatch(op.body)
	if m == nil {
		t.Fatalf("no remedy link for the operator:\n%s", op.body)
	}
	link, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	q := link.Query()
	d, err := e.svc.GetAsset(context.Background(), app.SystemActor("test"), alice)
	if err != nil || len(d.Findings) != 1 {
		t.Fatalf("findings: %v %v", d, err)
	}
	var params map[string]string
	if err := json.Unmarshal(d.Findings[0].RemedyParams, &params); err != nil {
		t.Fatal(err)
	}
	if q.Get("connector") != strconv.FormatInt(e.conn.ID, 10) || q.Get("op0_type") != "ldap.group.remove_member" ||
		q.Get("title") != "Fix: ldap.user.locked_but_privileged on alice" || q.Get("op0_group") != "admins" || q.Get("op0_uid") != "alice" {
		t.Fatalf("remedy link %s (params %v)", link, params)
	}
	for k, v := range params {
		if q.Get("op0_"+k) != v {
			t.Errorf("remedy link %s=%q, want %q", k, q.Get("op0_"+k), v)
		}
	}
	// The form opens pre-filled.
	form := e.get(e.ops, link.String())
	requireContains(t, form, `value="Fix: ldap.user.locked_but_privileged on alice"`,
		`<option value="ldap.group.remove_member" selected>`, `name="op0_group" value="admins"`, `name="op0_uid" value="alice"`,
		"Finding ldap.user.locked_but_privileged (high)")
	// Creating it from the pre-filled values and running it fixes the
	// finding, and the change raises no drift.
	fix := op_("ldap.group.remove_member", map[string]string{"group": q.Get("op0_group"), "uid": q.Get("op0_uid")})
	path := e.createChange(e.ops, e.conn.ID, q.Get("title"), fix)
	e.mustPost(e.ops, path, "submit", nil)

	// Meanwhile the dashboard shows the finding and the drift.
	dash = e.get(e.viewr, "/")
	requireContains(t, dash, `data-testid="findings-count-high"><strong>1</strong>`, `data-testid="finding-row-asset"><a href="`+aliceURL+`">alice</a>`,
		`data-testid="finding-row-rule">ldap.user.locked_but_privileged</code>`, `data-testid="drift-row-change">changed</span>`)
	dm := regexp.MustCompile(`data-testid="drift-row" data-drift-id="(\d+)"`).FindStringSubmatch(dash.body)
	if dm == nil {
		t.Fatalf("no drift row:\n%s", dash.body)
	}
	driftPath := "/drift/" + dm[1]
	requireContains(t, dash, `href="`+driftPath+`" data-testid="drift-row-detail"`)
	if strings.Contains(dash.body, "drift-row-ack") {
		t.Error("a viewer is offered acknowledge on the dashboard")
	}
	requireContains(t, e.get(e.ops, "/"), `data-testid="drift-row-ack"`)

	// The drift page: before and after side by side.
	dp := e.get(e.viewr, driftPath)
	requireContains(t, dp, `data-testid="drift-change">changed</span>`,
		`data-key="locked" class="changed" data-changed="true"><th class="nowrap">locked</th><td data-testid="drift-before"><pre class="payload">false</pre></td><td data-testid="drift-after"><pre class="payload">true</pre>`,
		`href="`+aliceURL+`">alice</a>`)
	if strings.Contains(dp.body, "drift-ack-form") {
		t.Error("a viewer is offered acknowledge")
	}
	// A viewer cannot acknowledge; an operator can, from the dashboard.
	e.refused(t, e.viewr, e.post(e.viewr, driftPath+"/acknowledge", url.Values{"comment": {"seen"}}), driftPath, "Your role (")
	requireContains(t, e.get(e.viewr, "/"), `data-drift-id="`+dm[1]+`"`)
	r := e.post(e.ops, driftPath+"/acknowledge", url.Values{"comment": {"HR locked her account"}, "back": {"dashboard"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("acknowledge: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	dash = e.get(e.ops, "/")
	requireContains(t, dash, `data-testid="flash"`, "acknowledged", `data-testid="drift-empty"`)
	dp = e.get(e.viewr, driftPath)
	requireContains(t, dp, "by ops@example.com", `data-testid="drift-ack-comment">HR locked her account</div>`)
	e.refused(t, e.appr, e.post(e.appr, driftPath+"/acknowledge", url.Values{"comment": {"again"}}), driftPath, "already acknowledged")
	if r := e.get(e.viewr, "/drift/99999"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown drift: %d", r.StatusCode)
	}

	// The approver approves the fix, the operator runs it; the finding is
	// resolved (by the targeted sync after the request, or by this full
	// sync if it got there first) and no sync sees drift.
	e.mustPost(e.appr, path, "approve", url.Values{"comment": {"ok"}})
	e.mustPost(e.ops, path, "execute", nil)
	e.waitState(changeIDOf(t, path), app.StateSucceeded)
	box = e.syncPage()
	if syncCount(t, box, "drift") != 0 || syncCount(t, box, "findings-open") != 0 {
		t.Errorf("sync after the fix:\n%s", box.body)
	}
	after := e.get(e.viewr, aliceURL)
	requireContains(t, after, `data-testid="asset-finding-resolved"`)
	if strings.Contains(e.get(e.ops, aliceURL).body, "asset-finding-remedy") {
		t.Error("a resolved finding still offers its remedy")
	}
	requireContains(t, e.get(e.viewr, "/"), `data-testid="findings-empty"`)
	e.requireNoSecrets(vp, op, form, dash, dp, after)
}

// op_ is an operation row with arbitrary fields.
func op_(typ string, fields map[string]string) op { return op{typ, fields} }

// TestRevokeNowFromAssetPage: an admin's revoke runs at once as an
// emergency change, an operator's is submitted; viewers and approvers are
// not offered it and are refused.
func TestRevokeNowFromAssetPage(t *testing.T) {
	e := newInventoryEnv(t)
	e.syncPage()
	bob := "/assets/" + strconv.FormatInt(e.assetOf("ldap.user", "bob"), 10)
	alice := "/assets/" + strconv.FormatInt(e.assetOf("ldap.user", "alice"), 10)
	devs := "/assets/" + strconv.FormatInt(e.assetOf("ldap.group", "devs"), 10)

	requireContains(t, e.get(e.admin, bob), "Revoke now (runs immediately as an emergency change)")
	requireContains(t, e.get(e.ops, bob), "Revoke (submits for approval)")
	for _, c := range []*http.Client{e.appr, e.viewr} {
		if strings.Contains(e.get(c, bob).body, "asset-revoke") {
			t.Error("revoke offered to a role that may not write change requests")
		}
	}
	if strings.Contains(e.get(e.admin, devs).body, "asset-revoke") {
		t.Error("revoke offered on a group")
	}

	r := e.post(e.admin, bob+"/revoke", url.Values{"reason": {"laptop stolen"}})
	if r.StatusCode != http.StatusSeeOther || !changeLocRe.MatchString(r.Header.Get("Location")) {
		t.Fatalf("admin revoke: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	path := r.Header.Get("Location")
	page := e.get(e.admin, path)
	requireContains(t, page, `data-testid="flash"`, "emergency change", "Revoke bob", "laptop stolen", "ldap.user.disable")
	done := e.waitState(changeIDOf(t, path), app.StateSucceeded)
	if !done.Emergency {
		t.Error("the admin's revoke is not an emergency change")
	}
	if e.dir.CanBind(userDN("bob"), e.dir.UserPasswords["bob"]) == nil {
		t.Error("bob can still bind after revoke now")
	}
	requireContains(t, e.get(e.admin, path), `data-testid="change-status">succeeded</span>`)

	r = e.post(e.ops, alice+"/revoke", nil)
	if r.StatusCode != http.StatusSeeOther || !changeLocRe.MatchString(r.Header.Get("Location")) {
		t.Fatalf("operator revoke: %d\n%s", r.StatusCode, r.body)
	}
	requireContains(t, e.get(e.ops, r.Header.Get("Location")), "submitted", `data-testid="change-status">submitted</span>`)
	requireLocked(t, e.dir, "alice", false)

	e.refused(t, e.viewr, e.post(e.viewr, alice+"/revoke", nil), alice, "Your role (")
	e.refused(t, e.admin, e.post(e.admin, devs+"/revoke", url.Values{"reason": {"leaked"}}), devs)
}

// TestInventoryRoutesRefuseCrossOrigin: the new POSTs do nothing when a
// browser says they came from another site.
func TestInventoryRoutesRefuseCrossOrigin(t *testing.T) {
	e := newInventoryEnv(t)
	e.rootModify("cn=admins,"+ldaptest.GroupBase, func(r *goldap.ModifyRequest) { r.Add("member", []string{userDN("bob")}) })
	e.syncPage()
	e.rootModify(userDN("alice"), func(r *goldap.ModifyRequest) { r.Add("pwdAccountLockedTime", []string{"000001010000Z"}) })
	e.syncPage()
	ds, err := e.svc.ListDrift(context.Background(), app.SystemActor("test"), app.DriftFilter{OpenOnly: true})
	if err != nil || len(ds) != 1 {
		t.Fatalf("drift: %v %v", ds, err)
	}
	bob := "/assets/" + strconv.FormatInt(e.assetOf("ldap.user", "bob"), 10)
	before, _ := e.svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{})
	form := url.Values{"reason": {"forged"}, "comment": {"forged"}, "back": {"dashboard"}}
	for _, p := range []string{e.cid + "/sync", bob + "/revoke", bob + "/sync", "/drift/" + strconv.FormatInt(ds[0].ID, 10) + "/acknowledge"} {
		for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
			r := e.post(e.admin, p, form, hdr...)
			if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "came from another site") {
				t.Errorf("%s %v: %d", p, hdr, r.StatusCode)
			}
		}
	}
	after, _ := e.svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{})
	if after.Events[0].ID != before.Events[0].ID {
		t.Fatalf("a cross-origin request changed something: %s", after.Events[0].Event)
	}
	requireLocked(t, e.dir, "bob", false)
	if ds, _ := e.svc.ListDrift(context.Background(), app.SystemActor("test"), app.DriftFilter{OpenOnly: true}); len(ds) != 1 {
		t.Error("a cross-origin request acknowledged the drift")
	}
}
