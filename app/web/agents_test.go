package web_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

const testAgentURL = "https://agents.example.org:8444"

// agentCSR is a PEM CSR for an RSA-2048 key, as nexplane-agent makes one;
// one key serves every test (generating them is slow under -race).
func agentCSR(t *testing.T) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader,
		&x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored-by-the-server"}}, testkit.RSAKey(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// enrollAgent enrolls a host through the service, with a token the
// service made, as nexplane-agent enroll does over the agent listener.
func (e *env) enrollAgent(hostname string, labels map[string]string) *app.Agent {
	e.t.Helper()
	ctx := context.Background()
	token, _, err := e.svc.CreateEnrollmentToken(ctx, app.SystemActor("test"), labels, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.svc.Enroll(ctx, token, agentCSR(e.t), hostname)
	if err != nil {
		e.t.Fatal(err)
	}
	return en.Agent
}

func (e *env) heartbeat(id, hostname string, users ...ops.HostUser) {
	e.t.Helper()
	hb := ops.Heartbeat{Facts: ops.Facts{Hostname: hostname, OS: "Debian GNU/Linux 13", Kernel: "6.12.0-test",
		AgentVersion: "1.2.3", UptimeSeconds: 3723}, Users: users}
	if err := e.svc.RecordHeartbeat(context.Background(), id, hb); err != nil {
		e.t.Fatal(err)
	}
}

const (
	aliceKey = "SHA256:aliceKEYfingerprint0000000000000000000000000"
	bobKey   = "SHA256:bobKEYfingerprint00000000000000000000000000"
)

func hostUsers() []ops.HostUser {
	return []ops.HostUser{
		{Name: "root", UID: 0, Shell: "/bin/bash", Home: "/root"},
		{Name: "alice", UID: 1001, Shell: "/bin/bash", Home: "/home/alice",
			SSHKeys: []ops.SSHKey{{Fingerprint: aliceKey, Type: "ssh-ed25519", Comment: "alice@laptop"}}},
		{Name: "bob", UID: 1002, Shell: "/usr/sbin/nologin", Home: "/home/bob", Locked: true,
			SSHKeys: []ops.SSHKey{{Fingerprint: bobKey, Type: "ssh-rsa"}}},
	}
}

// agentsEnv has three agents: web-01 online with users, db-01 never seen
// (offline) and old-01 revoked, and a user of every role.
type agentsEnv struct {
	*env
	web, db, old                 *app.Agent
	admin, ops, approver, viewer *http.Client
}

func newAgentsEnv(t *testing.T) *agentsEnv {
	e := &agentsEnv{env: newEnv(t, envOpts{agents: true, agentURL: testAgentURL + "/"})}
	e.web = e.enrollAgent("web-01.example.org", map[string]string{"env": "prod", "role": "web"})
	e.heartbeat(e.web.ID, "web-01.example.org", hostUsers()...)
	e.db = e.enrollAgent("db-01.example.org", nil)
	e.old = e.enrollAgent("old-01.example.org", map[string]string{"env": "lab"})
	if _, err := e.svc.RevokeAgent(context.Background(), app.SystemActor("test"), e.old.ID); err != nil {
		t.Fatal(err)
	}
	clients := map[app.Role]**http.Client{app.RoleAdmin: &e.admin, app.RoleOperator: &e.ops,
		app.RoleApprover: &e.approver, app.RoleViewer: &e.viewer}
	for role, c := range clients {
		email := string(role) + "@example.com"
		e.seedUser(email, role)
		*c = e.client()
		e.login(*c, email)
	}
	return e
}

func (e *agentsEnv) byRole() map[app.Role]*http.Client {
	return map[app.Role]*http.Client{app.RoleAdmin: e.admin, app.RoleOperator: e.ops,
		app.RoleApprover: e.approver, app.RoleViewer: e.viewer}
}

var agentRowRe = regexp.MustCompile(`<tr data-testid="agent-row" data-agent-id="([0-9a-f]{16})" data-hostname="([^"]+)" data-status="([a-z]+)"`)

// agentStatuses maps hostname to the status the list shows.
func agentStatuses(body string) map[string]string {
	out := map[string]string{}
	for _, m := range agentRowRe.FindAllStringSubmatch(body, -1) {
		out[m[2]] = m[3]
	}
	return out
}

// userRows are the data-user values of the users table, in order.
var userRowRe = regexp.MustCompile(`<tr data-testid="agent-user-row" data-user="([^"]+)" data-locked="(true|false)"`)

func userRows(body string) []string {
	var out []string
	for _, m := range userRowRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+":"+m[2])
	}
	return out
}

func TestAgentsListAndDetailByRole(t *testing.T) {
	e := newAgentsEnv(t)
	want := map[string]string{"web-01.example.org": "online", "db-01.example.org": "offline", "old-01.example.org": "revoked"}
	for role, c := range e.byRole() {
		t.Run(string(role), func(t *testing.T) {
			r := e.get(c, "/agents")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("GET /agents: %d", r.StatusCode)
			}
			if got := agentStatuses(r.body); len(got) != 3 || got["web-01.example.org"] != want["web-01.example.org"] ||
				got["db-01.example.org"] != want["db-01.example.org"] || got["old-01.example.org"] != want["old-01.example.org"] {
				t.Fatalf("statuses %v", got)
			}
			requireContains(t, r, `data-testid="agents-table"`, `href="/agents/`+e.web.ID+`"`, "env=prod", "role=web",
				"Debian GNU/Linux 13", `data-testid="agent-row-version">1.2.3<`, formatUTC(e.web.CertNotAfter),
				`class="active" aria-current="page">Agents<`)
			if has := strings.Contains(r.body, `data-testid="enrollment-form"`); has != (role == app.RoleAdmin) {
				t.Errorf("enrollment form shown=%v", has)
			}

			d := e.get(c, "/agents/"+e.web.ID)
			if d.StatusCode != http.StatusOK {
				t.Fatalf("detail: %d", d.StatusCode)
			}
			requireContains(t, d, `data-testid="agent-status">online<`, `data-testid="agent-hostname">web-01.example.org<`,
				e.web.CertSerial, formatUTC(e.web.CertNotAfter), "6.12.0-test", "1h2m3s", `data-testid="agent-users-table"`,
				aliceKey, bobKey, "alice@laptop", "/usr/sbin/nologin", `data-testid="agent-user-locked"`,
				`href="/assets?q=web-01.example.org"`)
			if got := strings.Join(userRows(d.body), " "); got != "root:false alice:false bob:true" {
				t.Errorf("user rows: %s", got)
			}
			if has := strings.Contains(d.body, `data-testid="agent-revoke"`); has != (role == app.RoleAdmin) {
				t.Errorf("revoke button shown=%v", has)
			}
			d = e.get(c, "/agents/"+e.db.ID)
			requireContains(t, d, `data-testid="agent-status">offline<`, `data-testid="agent-users-empty"`,
				`data-testid="agent-facts-empty"`)
			d = e.get(c, "/agents/"+e.old.ID)
			requireContains(t, d, `data-testid="agent-status">revoked<`, `data-testid="agent-revoked-at"`, "env=lab")
			if strings.Contains(d.body, `data-testid="agent-revoke"`) {
				t.Error("a revoked agent offers revoke")
			}

			dash := e.get(c, "/")
			requireContains(t, dash, `data-testid="card-agents"`, `href="/agents" class="small-link" data-testid="agents-all"`,
				`data-testid="agents-count-online"><strong>1</strong>`, `data-testid="agents-count-offline"><strong>1</strong>`,
				`data-testid="agents-count-revoked"><strong>1</strong>`, `href="/agents" data-testid="nav-agents"`)
		})
	}
	for _, path := range []string{"/agents/0123456789abcdef", "/agents/nope", "/agents/..%2Fx", "/agents/0123456789ABCDEF"} {
		if r := e.get(e.viewer, path); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, r.StatusCode)
		}
	}
	// Without heartbeats for three beats, the agent turns offline.
	e.clock.Advance(app.AgentOnlineWindow + time.Second)
	if got := agentStatuses(e.get(e.viewer, "/agents").body); got["web-01.example.org"] != "offline" {
		t.Fatalf("after silence: %v", got)
	}
	requireContains(t, e.get(e.viewer, "/"), `data-testid="agents-count-offline"><strong>2</strong>`)
}

func formatUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// TestAgentUsersFollowHeartbeats: the users table is the last heartbeat's
// inventory, so a host's users changing (after an approved change request)
// shows on the page.
func TestAgentUsersFollowHeartbeats(t *testing.T) {
	e := newAgentsEnv(t)
	path := "/agents/" + e.web.ID
	users := hostUsers()
	users[1].Locked = true
	users[1].SSHKeys = nil
	users = append(users, ops.HostUser{Name: "carol", UID: 1003, Shell: "/bin/zsh", Home: "/home/carol"})
	users = slicesDelete(users, 2) // bob deleted
	e.clock.Advance(15 * time.Second)
	e.heartbeat(e.web.ID, "web-01.example.org", users...)
	r := e.get(e.viewer, path)
	if got := strings.Join(userRows(r.body), " "); got != "root:false alice:true carol:false" {
		t.Fatalf("user rows: %s", got)
	}
	if strings.Contains(r.body, aliceKey) || strings.Contains(r.body, bobKey) {
		t.Fatal("removed keys still shown")
	}
	requireContains(t, r, `data-user="carol"`, "/bin/zsh", formatUTC(e.clock.Now()))

	// A heartbeat with no users is an empty inventory, not a missing one.
	e.heartbeat(e.web.ID, "web-01.example.org")
	requireContains(t, e.get(e.viewer, path), `data-testid="agent-users-none"`)
}

func slicesDelete(u []ops.HostUser, i int) []ops.HostUser { return append(u[:i:i], u[i+1:]...) }

var (
	enrollCmdRe = regexp.MustCompile(`<pre id="reveal-command" class="payload prewrap mono" data-testid="reveal-command">sudo nexplane-agent enroll --server (\S+) --token (nxe_[A-Za-z0-9_-]{43}) --ca-sha256 ([0-9a-f]{64})\nsudo systemctl enable --now nexplane-agent</pre>`)
)

func TestEnrollmentTokenShownOnce(t *testing.T) {
	e := newAgentsEnv(t)
	ctx := context.Background()
	before, _ := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})

	r := e.post(e.admin, "/agents", url.Values{"labels": {"env=prod\r\n\r\n  role = db \r\n"}, "ttl": {"4h"}})
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/reveal/") || strings.Contains(r.body, "nxe_") {
		t.Fatalf("create: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	reveal := r.Header.Get("Location")
	r = e.get(e.admin, reveal)
	m := enrollCmdRe.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no enroll command:\n%s", r.body)
	}
	server, token, fp := m[1], m[2], m[3]
	if server != testAgentURL || fp != e.ca.Fingerprint() || fp != e.svc.AgentCAFingerprint() {
		t.Fatalf("command: server %q fingerprint %q (CA %q)", server, fp, e.ca.Fingerprint())
	}
	requireContains(t, r, `data-testid="reveal-once"`, "shown only on this page", formatUTC(e.clock.Now().Add(4*time.Hour)),
		"env=prod", "role=db", `data-testid="copy-reveal-command"`)
	if strings.Contains(r.body, `data-testid="reveal-url-missing"`) {
		t.Error("URL reported missing")
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
	}

	// Nothing shows the token again: not the list, the dashboard, a flash,
	// the audit log or any agent page.
	var later []response
	if again := e.get(e.admin, reveal); again.StatusCode != http.StatusGone {
		t.Errorf("reload of the reveal page: %d", again.StatusCode)
	} else {
		later = append(later, again)
	}
	for _, p := range []string{"/agents", "/", "/audit", "/agents/" + e.web.ID, "/agents", "/changes", "/assets"} {
		later = append(later, e.get(e.admin, p))
	}
	after, err := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if after.Events[0].Event != "agent.enrollment_token_created" || after.Events[0].ID == before.Events[0].ID {
		t.Fatalf("newest audit record %s", after.Events[0].Event)
	}
	for _, ev := range after.Events {
		later = append(later, e.get(e.admin, "/audit/"+strconv.FormatInt(ev.ID, 10)))
	}
	for _, l := range later {
		if strings.Contains(l.body, token) || strings.Contains(l.body, token[4:]) {
			t.Fatalf("the token shows again on %s", l.Request.URL.Path)
		}
	}
	if strings.Contains(string(after.Events[0].Payload), token) {
		t.Fatal("the token is in the audit log")
	}

	// The token works once, with the labels of the form.
	en, err := e.svc.Enroll(ctx, token, agentCSR(t), "new-01.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if en.Agent.Labels["env"] != "prod" || en.Agent.Labels["role"] != "db" || len(en.Agent.Labels) != 2 {
		t.Fatalf("labels %v", en.Agent.Labels)
	}
	if _, err := e.svc.Enroll(ctx, token, agentCSR(t), "again.example.org"); app.ErrCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("second use: %v", err)
	}
	requireContains(t, e.get(e.admin, "/agents"), `data-hostname="new-01.example.org" data-status="offline"`)

	// No TTL chosen is the default hour; no labels is fine.
	r = e.follow(e.admin, e.post(e.admin, "/agents", nil))
	if r.StatusCode != http.StatusOK || enrollCmdRe.FindStringSubmatch(r.body) == nil {
		t.Fatalf("defaults: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, r, formatUTC(e.clock.Now().Add(time.Hour)))
}

func TestEnrollmentTokenAdminOnly(t *testing.T) {
	e := newAgentsEnv(t)
	ctx := context.Background()
	before, _ := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	for role, c := range map[app.Role]*http.Client{app.RoleOperator: e.ops, app.RoleApprover: e.approver, app.RoleViewer: e.viewer} {
		r := e.post(c, "/agents", url.Values{"labels": {"env=prod"}, "ttl": {"1h"}})
		if r.StatusCode != http.StatusForbidden || strings.Contains(r.body, "nxe_") {
			t.Errorf("%s: %d", role, r.StatusCode)
		}
		requireContains(t, r, "cannot manage agents and enrollment tokens; an admin can.")
	}
	after, _ := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	if after.Events[0].ID != before.Events[0].ID {
		t.Fatalf("a refused request made a token: %s", after.Events[0].Event)
	}
}

func TestEnrollmentTokenBadInput(t *testing.T) {
	e := newAgentsEnv(t)
	ctx := context.Background()
	before, _ := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	for _, tc := range []struct {
		name, labels, ttl, want string
	}{
		{"no equals", "env=prod\njustakey", "1h", "line 2: &#34;justakey&#34; is not key=value"},
		{"empty key", "=prod", "1h", "is not key=value"},
		{"upper-case key", "Env=prod", "1h", "Label key &#34;Env&#34; must be"},
		{"duplicate", "env=prod\nenv=dev", "1h", "label &#34;env&#34; is given twice"},
		{"bad value", "env=" + strings.Repeat("x", 200), "1h", "value must be at most 128"},
		{"ttl not offered", "env=prod", "2h", "must be one of 15m, 1h, 4h or 24h"},
		{"ttl too long", "env=prod", "48h", "must be one of"},
		{"ttl negative", "env=prod", "-1h", "must be one of"},
		{"ttl junk", "env=prod", "soon", "must be one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(e.admin, "/agents", url.Values{"labels": {tc.labels}, "ttl": {tc.ttl}})
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d", r.StatusCode)
			}
			requireContains(t, r, `data-testid="enrollment-error"`, tc.want, `data-testid="enrollment-form"`,
				`data-testid="agents-table"`)
			if strings.Contains(r.body, `data-testid="reveal-command"`) || strings.Contains(r.body, "nxe_") {
				t.Fatal("a refused form shows a token")
			}
			// What was entered is kept.
			requireContains(t, r, `data-testid="enrollment-labels">`+tc.labels+`</textarea>`)
		})
	}
	after, _ := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	if after.Events[0].ID != before.Events[0].ID {
		t.Fatalf("a refused form made a token: %s", after.Events[0].Event)
	}
}

func TestEnrollmentWithoutAgentURLOrCA(t *testing.T) {
	t.Run("no agent URL", func(t *testing.T) {
		e := newEnv(t, envOpts{agents: true})
		e.seedUser("admin@example.com", app.RoleAdmin)
		c := e.client()
		e.login(c, "admin@example.com")
		r := e.follow(c, e.post(c, "/agents", url.Values{"ttl": {"15m"}}))
		m := enrollCmdRe.FindStringSubmatch(r.body)
		if r.StatusCode != http.StatusOK || m == nil || m[1] != "https://&lt;agent-listener-host&gt;:8444" || m[3] != e.ca.Fingerprint() {
			t.Fatalf("%d %v\n%s", r.StatusCode, m, r.body)
		}
		requireContains(t, r, `data-testid="reveal-url-missing"`, formatUTC(e.clock.Now().Add(15*time.Minute)))
	})
	t.Run("no CA", func(t *testing.T) {
		e := newEnv(t, envOpts{})
		e.seedUser("admin@example.com", app.RoleAdmin)
		c := e.client()
		e.login(c, "admin@example.com")
		requireContains(t, e.get(c, "/agents"), `data-testid="enrollment-off"`, `data-testid="agents-empty"`)
		r := e.post(c, "/agents", url.Values{"ttl": {"1h"}})
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%d", r.StatusCode)
		}
		requireContains(t, r, "Agent enrollment is not configured")
	})
}

func TestRevokeAgent(t *testing.T) {
	e := newAgentsEnv(t)
	ctx := context.Background()
	path := "/agents/" + e.web.ID

	// Non-admins may neither see the confirmation nor revoke.
	for role, c := range map[app.Role]*http.Client{app.RoleOperator: e.ops, app.RoleApprover: e.approver, app.RoleViewer: e.viewer} {
		if r := e.get(c, path+"/revoke"); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s GET revoke: %d", role, r.StatusCode)
		}
		e.refused(t, c, e.post(c, path+"/revoke", url.Values{"confirm": {"yes"}}), path, "cannot manage agents and enrollment tokens; an admin can.")
	}
	if _, err := e.svc.AuthenticateAgent(ctx, e.web.ID, e.web.CertSerial); err != nil {
		t.Fatalf("a refused revoke revoked: %v", err)
	}

	// The detail page links to a confirmation step; it has no form that
	// revokes in one click.
	r := e.get(e.admin, path)
	requireContains(t, r, `href="`+path+`/revoke" data-testid="agent-revoke"`)
	if strings.Contains(r.body, `action="`+path+`/revoke"`) {
		t.Fatal("the detail page revokes in one click")
	}
	for _, form := range []url.Values{nil, {"confirm": {"no"}}} {
		r = e.post(e.admin, path+"/revoke", form)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path+"/revoke" {
			t.Fatalf("unconfirmed revoke: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
	}
	if _, err := e.svc.AuthenticateAgent(ctx, e.web.ID, e.web.CertSerial); err != nil {
		t.Fatalf("an unconfirmed revoke revoked: %v", err)
	}
	r = e.get(e.admin, path+"/revoke")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("confirmation: %d", r.StatusCode)
	}
	requireContains(t, r, "Revoke agent web-01.example.org?", `data-testid="agent-revoke-confirm"`,
		`<form method="post" action="`+path+`/revoke"`, `<input type="hidden" name="confirm" value="yes">`,
		`data-testid="agent-revoke-submit"`, `href="`+path+`" data-testid="agent-revoke-cancel"`)

	r = e.post(e.admin, path+"/revoke", url.Values{"confirm": {"yes"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("revoke: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	r = e.get(e.admin, path)
	requireContains(t, r, "Agent web-01.example.org revoked", `data-testid="agent-status">revoked<`, `data-testid="agent-revoked-at"`,
		`data-testid="agent-users-table"`)
	if strings.Contains(r.body, `data-testid="agent-revoke"`) {
		t.Error("revoked agent still offers revoke")
	}
	if _, err := e.svc.AuthenticateAgent(ctx, e.web.ID, e.web.CertSerial); app.ErrCode(err) != app.EFORBIDDEN {
		t.Fatalf("revoked agent authenticates: %v", err)
	}
	if got := agentStatuses(e.get(e.viewer, "/agents").body); got["web-01.example.org"] != "revoked" {
		t.Fatalf("list: %v", got)
	}
	requireContains(t, e.get(e.viewer, "/"), `data-testid="agents-count-revoked"><strong>2</strong>`)
	page, _ := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	if ev := page.Events[0]; ev.Event != "agent.revoked" || ev.ResourceID != e.web.ID || ev.ActorEmail != "admin@example.com" {
		t.Fatalf("audit: %+v", ev)
	}

	// Asking again is harmless: the confirmation page says it is done.
	r = e.get(e.admin, path+"/revoke")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("confirm revoked: %d", r.StatusCode)
	}
	if r := e.post(e.admin, path+"/revoke", url.Values{"confirm": {"yes"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke again: %d", r.StatusCode)
	}
	for _, p := range []string{"/agents/0123456789abcdef/revoke", "/agents/nope/revoke"} {
		if r := e.post(e.admin, p, url.Values{"confirm": {"yes"}}); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
		if r := e.get(e.admin, p); r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
	}
}

// TestAgentRoutesRefuseCrossOrigin: the new POSTs do nothing when a
// browser says they came from another site.
func TestAgentRoutesRefuseCrossOrigin(t *testing.T) {
	e := newAgentsEnv(t)
	ctx := context.Background()
	before, _ := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	form := url.Values{"confirm": {"yes"}, "labels": {"env=prod"}, "ttl": {"1h"}}
	for _, p := range []string{"/agents", "/agents/" + e.web.ID + "/revoke"} {
		for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
			r := e.post(e.admin, p, form, hdr...)
			if r.StatusCode != http.StatusForbidden || !strings.Contains(r.body, "came from another site") ||
				strings.Contains(r.body, "nxe_") {
				t.Errorf("%s %v: %d", p, hdr, r.StatusCode)
			}
		}
	}
	after, _ := e.svc.ListAudit(ctx, app.SystemActor("test"), app.AuditQuery{})
	if after.Events[0].ID != before.Events[0].ID {
		t.Fatalf("a cross-origin request changed something: %s", after.Events[0].Event)
	}
	if _, err := e.svc.AuthenticateAgent(ctx, e.web.ID, e.web.CertSerial); err != nil {
		t.Fatalf("a cross-origin request revoked: %v", err)
	}
	// The same requests from the console's own pages work.
	if r := e.post(e.admin, "/agents", form, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("same-origin: %d", r.StatusCode)
	}
}
