package views_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/nexplane/nexplane/views"
)

func TestAssetPath(t *testing.T) {
	tests := []struct{ name, re string }{
		{"app.css", `^/static/app\.[0-9a-f]{12}\.css$`},
		{"htmx.min.js", `^/static/htmx\.min\.[0-9a-f]{12}\.js$`},
		{"favicon.svg", `^/static/favicon\.[0-9a-f]{12}\.svg$`},
	}
	for _, tc := range tests {
		if got := views.AssetPath(tc.name); !regexp.MustCompile(tc.re).MatchString(got) {
			t.Errorf("AssetPath(%q) = %q", tc.name, got)
		}
	}
}

func TestStaticHandler(t *testing.T) {
	h := views.StaticHandler()
	tests := []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", views.AssetPath("app.css"), 200, "text/css; charset=utf-8"},
		{"GET", views.AssetPath("htmx.min.js"), 200, "text/javascript; charset=utf-8"},
		{"HEAD", views.AssetPath("favicon.svg"), 200, "image/svg+xml"},
		{"GET", "/static/app.css", 404, ""},
		{"GET", "/static/app.000000000000.css", 404, ""},
		{"GET", "/static/README.md", 404, ""},
		{"POST", views.AssetPath("app.css"), 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status != http.StatusOK {
				return
			}
			if got := rec.Header().Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control %q", got)
			}
		})
	}
}

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// inlineCode matches what the CSP would block or what would reach outside:
// inline scripts, style attributes, inline handlers and absolute URLs.
var inlineCode = regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]+</script>|\sstyle=|\son[a-z]+=|https?://|javascript:`)

func TestPagesAreCSPClean(t *testing.T) {
	admin := views.Page{Title: "T", User: &views.CurrentUser{Email: "a@example.com", Role: "admin", IsAdmin: true}, Flash: "done"}
	pages := map[string]templ.Component{
		"login": views.LoginPage(views.Page{Title: "Log in"}, views.LoginForm{Email: "a@example.com", Error: "nope"}),
		"setup": views.SetupPage(views.Page{}, views.SetupForm{Token: "tok"}),
		"dashboard": views.Dashboard(admin, views.DashboardView{Cards: []views.DashboardCard{{Key: "executed", Title: "Recently executed",
			Rows: []views.ChangeRow{{ID: "1", Title: "t", State: "succeeded", DetailURL: "/changes/1", Emergency: true}}}}}),
		"connectors": views.ConnectorsPage(admin, views.ConnectorsView{Rows: []views.ConnectorRow{{ID: "1", Name: "dir",
			Type: "ldap", CredentialsSet: true, DetailURL: "/connectors/1"}}}),
		"connector": views.ConnectorDetailPage(admin, views.ConnectorDetailView{ID: "1", Name: "dir", Config: "{}",
			Test: views.ConnectorTestResult{Ran: true, Message: "m"},
			Form: views.ConnectorForm{ID: "1", Action: "/connectors/1", Fields: []views.FormField{{Name: "url", Kind: views.KindText},
				{Name: "ca", Kind: views.KindTextarea}, {Name: "x", Kind: views.KindCheckbox, Checked: true}},
				Secrets: []views.FormField{{Name: "bind_password", Kind: views.KindPassword}}}}),
		"connector-delete": views.ConnectorDeletePage(admin, views.ConnectorDeleteView{ID: "1", Name: "dir", Type: "ldap"}),
		"changes": views.ChangesPage(admin, views.ChangesView{CanCreate: true, NextURL: "/changes?cursor=x",
			Rows: []views.ChangeRow{{ID: "1", Title: "t", State: "draft", Connector: "dir", RequiredApprovals: "2", DetailURL: "/changes/1"}}}),
		"change-form": views.ChangeFormPage(admin, views.ChangeForm{Action: "/changes/new", ConnectorID: "1",
			OpTypes: []views.OpTypeHelp{{Type: "a.b", Fields: []string{"uid"}}},
			Rows:    []views.OpRowForm{{Index: "0", Number: "1", Fields: []views.FormField{{Name: "op0_uid", Kind: views.KindText}}}}}),
		"change": views.ChangeDetailPage(admin, views.ChangeDetailView{ID: "1", URL: "/changes/1", State: "executing", Polling: true,
			Connector: "dir", RequiredApprovals: "1",
			Emergency: true, NeedsReview: true, Kept: views.KeptChangeInput{DecisionComment: "c"},
			Approvals:  []views.ApprovalView{{Email: "a@example.com", Decision: "approve", Void: true}},
			Operations: []views.OperationView{{ID: "1", Type: "a.b", Status: "running", RevealURL: "/changes/1/operations/1/reveal"}},
			Actions:    views.ChangeActions{Edit: true, Submit: true, Approve: true, Cancel: true, Execute: true, Emergency: true, Resume: true, Review: true}}),
		"users": views.UsersPage(admin, views.UsersView{Roles: []string{"admin", "viewer"},
			Rows: []views.UserRow{{ID: "1", Email: "a@example.com", Role: "admin", Created: "now", IsSelf: true}}}),
		"audit": views.AuditPage(admin, views.AuditView{NextURL: "/audit?cursor=x",
			Rows: []views.AuditRow{{ID: "1", Event: "user.created", DetailURL: "/audit/1"}}}),
		"detail": views.AuditDetailPage(admin, views.AuditDetail{ID: "1", Payload: "{}"}),
		"error":  views.ErrorPage(views.Page{}, views.ErrorView{Status: 500, Message: "m", RequestID: "r"}),
		"assets": views.AssetsPage(admin, views.AssetsView{NextURL: "/assets?cursor=x",
			Rows: []views.AssetRow{{ID: "1", Name: "alice", Kind: "ldap.user", Gone: true, DetailURL: "/assets/1",
				Findings: []views.FindingBadge{{Severity: "high", Rule: "r"}}}}}),
		"asset": views.AssetDetailPage(admin, views.AssetDetailView{ID: "1", URL: "/assets/1", Name: "alice", Gone: "now",
			Revoke: views.RevokeEmergency, Attributes: []views.AttributeRow{{Key: "k", Value: "v"}, {Key: "m", Value: "{}", Multiline: true}},
			Findings: []views.FindingRow{{Rule: "r", Severity: "high", Open: true, RemedyURL: "/changes/new?connector=1"}, {Rule: "s", Severity: "low"}}}),
		"drift": views.DriftDetailPage(admin, views.DriftDetailView{ID: "1", URL: "/drift/1", AssetURL: "/assets/1", Change: "changed",
			CanAcknowledge: true, Rows: []views.DriftAttrRow{{Key: "locked", Before: "false", After: "true", Changed: true}}}),
		"dashboard-hygiene": views.Dashboard(admin, views.DashboardView{CanAcknowledge: true,
			Findings: views.DashboardFindings{High: "1", Rows: []views.FindingRow{{Rule: "r", Severity: "high", AssetURL: "/assets/1"}}},
			Drift:    views.DashboardDrift{More: true, Rows: []views.DriftRow{{ID: "1", Change: "appeared", DetailURL: "/drift/1", AssetURL: "/assets/1"}}}}),
		"agents": views.AgentsPage(admin, views.AgentsView{CanManage: true, Token: views.EnrollmentTokenForm{Error: "e",
			TTLs: []views.Option{{Value: "1h", Label: "1 hour", Selected: true}}},
			Rows: []views.AgentRow{{ID: "0123456789abcdef", Hostname: "web", Status: "online", Labels: []string{"env=prod"}, DetailURL: "/agents/0123456789abcdef"}}}),
		"agents-off": views.AgentsPage(admin, views.AgentsView{CanManage: true, EnrollmentOff: true}),
		"reveal-enrollment": views.RevealPage(admin, views.RevealView{Title: "Enrollment token", Back: "/agents",
			Command: "sudo nexplane-agent enroll --server <agent-listener-host> --token t --ca-sha256 f", URLMissing: true,
			Facts: []views.RevealFact{{Label: "Labels", Value: "env=prod"}}}),
		"reveal-codes":  views.RevealPage(admin, views.RevealView{Title: "Recovery codes", Back: "/", Codes: []string{"a", "b"}}),
		"reveal-secret": views.RevealPage(admin, views.RevealView{Title: "Token", Back: "/account/tokens", Secret: "s"}),
		"reveal-gone":   views.RevealGonePage(admin),
		"agent": views.AgentDetailPage(admin, views.AgentDetailView{ID: "0123456789abcdef", URL: "/agents/0123456789abcdef", Status: "online",
			AssetsURL: "/assets?q=web", HasFacts: true, HasUsers: true, CanRevoke: true,
			Users: []views.HostUserRow{{Name: "alice", UID: "1001", Locked: true, Keys: []views.SSHKeyRow{{Fingerprint: "SHA256:x", Type: "ssh-ed25519", Comment: "c"}}}}}),
		"agent-revoke":     views.AgentRevokePage(admin, views.AgentRevokeView{ID: "0123456789abcdef", URL: "/agents/0123456789abcdef", Hostname: "web"}),
		"dashboard-agents": views.Dashboard(admin, views.DashboardView{Agents: views.DashboardAgents{Online: "1", Offline: "2", Revoked: "3"}}),
		"connector-sync": views.ConnectorDetailPage(admin, views.ConnectorDetailView{ID: "1", Name: "dir", Config: "{}",
			Sync: views.ConnectorSyncView{Ran: true, OK: true, Result: []views.SyncCount{{Key: "seen", Label: "seen", Value: "4"}}, LastError: "e"}}),
	}
	for name, c := range pages {
		t.Run(name, func(t *testing.T) {
			html := render(t, c)
			if m := inlineCode.FindString(html); m != "" {
				t.Fatalf("page has %q:\n%s", m, html)
			}
			if !strings.Contains(html, `"allowEval":false`) && !strings.Contains(html, `&#34;allowEval&#34;:false`) {
				t.Fatal("htmx-config missing")
			}
		})
	}
}

func TestNavHidesUsersFromNonAdmins(t *testing.T) {
	viewer := views.Page{User: &views.CurrentUser{Email: "v@example.com", Role: "viewer"}}
	html := render(t, views.Dashboard(viewer, views.DashboardView{}))
	if strings.Contains(html, `data-testid="nav-users"`) || strings.Contains(html, `data-testid="nav-connectors"`) {
		t.Fatal("viewer sees Users or Connectors")
	}
	for _, id := range []string{"nav-dashboard", "nav-audit", "logout", "current-user-email"} {
		if !strings.Contains(html, `data-testid="`+id+`"`) {
			t.Errorf("missing %s", id)
		}
	}
	viewer.User.IsAdmin = true
	if !strings.Contains(render(t, views.Dashboard(viewer, views.DashboardView{})), `data-testid="nav-users"`) {
		t.Fatal("admin does not see Users")
	}
}

func TestAuditResultsFragment(t *testing.T) {
	page := views.AuditPage(views.Page{User: &views.CurrentUser{Email: "a@example.com"}},
		views.AuditView{Rows: []views.AuditRow{{ID: "7", Event: "user.created", DetailURL: "/audit/7"}}})
	var buf bytes.Buffer
	if err := templ.RenderFragments(context.Background(), &buf, page, views.AuditResultsFragment); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	if !strings.HasPrefix(got, `<section class="panel" id="audit-results"`) || strings.Contains(got, "<form") {
		t.Fatalf("fragment:\n%s", got)
	}
}

func TestChangeLivePollsOnlyWhileExecuting(t *testing.T) {
	for _, tc := range []struct {
		polling bool
		want    bool
	}{{true, true}, {false, false}} {
		var buf bytes.Buffer
		v := views.ChangeDetailView{ID: "3", URL: "/changes/3", State: "succeeded", Polling: tc.polling}
		if err := templ.RenderFragments(context.Background(), &buf, views.ChangeLive(v), views.ChangeLiveFragment); err != nil {
			t.Fatal(err)
		}
		got := buf.String()
		if has := strings.Contains(got, `hx-trigger="every 1s"`) && strings.Contains(got, `hx-get="/changes/3/live"`); has != tc.want {
			t.Fatalf("polling=%v: polling attributes present=%v\n%s", tc.polling, has, got)
		}
	}
}

func TestSecretInputsNeverCarryValues(t *testing.T) {
	p := views.Page{User: &views.CurrentUser{Email: "a@example.com"}}
	secret := []views.FormField{{Name: "ldap.bind_password", Kind: views.KindPassword, Value: "leak-me"}}
	for name, page := range map[string]templ.Component{
		"create": views.NewConnectorPage(p, views.ConnectorForm{Action: "/connectors/new",
			Types: []views.ConnectorTypeChoice{{Value: "ldap", Label: "LDAP directory", Checked: true, Secrets: secret}}}),
		"edit": views.ConnectorDetailPage(p, views.ConnectorDetailView{ID: "1", Actions: views.ConnectorActions{Edit: true},
			Form: views.ConnectorForm{ID: "1", Action: "/connectors/1", Type: "ldap", Secrets: secret}}),
	} {
		html := render(t, page)
		if !strings.Contains(html, `name="ldap.bind_password"`) {
			t.Fatalf("%s: the password input is missing", name)
		}
		if strings.Contains(html, "leak-me") {
			t.Fatalf("%s: a password input rendered its value", name)
		}
	}
}

func TestApprovalPolicyShown(t *testing.T) {
	viewer := views.Page{User: &views.CurrentUser{Email: "v@example.com", Role: "viewer"}}
	for _, tc := range []struct{ required, want string }{{"1", "1 approval required"}, {"3", "3 approvals required"}} {
		html := render(t, views.Dashboard(viewer, views.DashboardView{Cards: []views.DashboardCard{{Key: "executed",
			Rows: []views.ChangeRow{{ID: "1", Title: "t", State: "succeeded", Connector: "Directory", RequiredApprovals: tc.required, DetailURL: "/changes/1"}}}}}))
		if !strings.Contains(html, `data-testid="change-row-approvals">`+tc.want+`<`) || !strings.Contains(html, "Directory") {
			t.Errorf("dashboard row lacks %q:\n%s", tc.want, html)
		}
		html = render(t, views.ChangeDetailPage(viewer, views.ChangeDetailView{ID: "1", URL: "/changes/1", State: "submitted",
			Connector: "Directory", ApprovalCount: "0", RequiredApprovals: tc.required}))
		if !strings.Contains(html, "0 valid approval(s) of this revision; "+tc.want) ||
			!strings.Contains(html, `data-testid="change-required-approvals">`+tc.want+`<`) {
			t.Errorf("detail lacks %q:\n%s", tc.want, html)
		}
	}
	// An unknown connector shows no policy rather than a wrong one.
	html := render(t, views.ChangeDetailPage(viewer, views.ChangeDetailView{ID: "1", URL: "/changes/1", State: "draft", ApprovalCount: "0"}))
	if strings.Contains(html, "required") {
		t.Fatalf("unknown policy shown:\n%s", html)
	}
}
