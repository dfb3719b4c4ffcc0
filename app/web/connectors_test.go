package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// bindPassword must never appear in any page.
const bindPassword = "Bind-Secret-Zz81-never-shown"

func ldapForm(name string) url.Values {
	return url.Values{
		"name": {name}, "type": {"ldap"}, "required_approvals": {"2"},
		"url":     {"ldap://127.0.0.1:1"},
		"bind_dn": {"cn=nexplane,ou=services,dc=example,dc=org"}, "base_dn": {"dc=example,dc=org"},
		"user_base": {"ou=people,dc=example,dc=org"}, "group_base": {"ou=groups,dc=example,dc=org"},
		"insecure_no_tls": {"true"}, "bind_password": {bindPassword},
	}
}

var connectorLocRe = regexp.MustCompile(`^/connectors/(\d+)$`)

func TestConnectorsAdminOnly(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c, err := e.svc.CreateConnector(context.Background(), app.SystemActor("test"), app.ConnectorInput{
		Name: "fake one", Type: fakeType, Config: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(c.ID, 10)
	for _, role := range []app.Role{app.RoleOperator, app.RoleApprover, app.RoleViewer} {
		t.Run(string(role), func(t *testing.T) {
			email := string(role) + "@example.com"
			e.seedUser(email, role)
			cl := e.client()
			e.login(cl, email)
			for _, path := range []string{"/connectors", "/connectors/new", "/connectors/" + id} {
				if r := e.get(cl, path); r.StatusCode != http.StatusForbidden {
					t.Errorf("GET %s: %d", path, r.StatusCode)
				} else {
					requireContains(t, r, "your role may not do this")
				}
			}
			for _, path := range []string{"/connectors", "/connectors/" + id, "/connectors/" + id + "/test", "/connectors/" + id + "/delete"} {
				if r := e.post(cl, path, ldapForm("x")); r.StatusCode != http.StatusForbidden {
					t.Errorf("POST %s: %d", path, r.StatusCode)
				}
			}
			if d := e.get(cl, "/"); strings.Contains(d.body, `data-testid="nav-connectors"`) {
				t.Error("non-admin sees the Connectors link")
			}
		})
	}
	if cs, _ := e.svc.ListConnectors(context.Background(), app.SystemActor("test")); len(cs) != 1 {
		t.Fatalf("connectors: %d", len(cs))
	}
}

func TestConnectorLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	e.login(c, "admin@example.com")
	var bodies []response
	keep := func(r response) response { bodies = append(bodies, r); return r }

	r := keep(e.get(c, "/connectors/new"))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("new form: %d", r.StatusCode)
	}
	requireContains(t, r, `<option value="ldap" selected>`, `name="bind_password"`, `type="password"`,
		`data-testid="connector-field-ca_pem"`, `data-testid="connector-field-tls_skip_verify"`, "labs and tests only")

	// A refused form keeps what was entered, except the password.
	bad := ldapForm("dir")
	bad.Set("user_base", "ou=people,dc=other,dc=org")
	r = keep(e.post(c, "/connectors", bad))
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad create: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, r, `data-testid="connector-form-error"`, "is not under base_dn",
		`value="cn=nexplane,ou=services,dc=example,dc=org"`, `value="ou=people,dc=other,dc=org"`)

	r = keep(e.post(c, "/connectors", ldapForm("dir")))
	m := connectorLocRe.FindStringSubmatch(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	path := m[0]
	id, _ := strconv.ParseInt(m[1], 10, 64)
	stored, err := e.svc.GetConnector(context.Background(), app.SystemActor("test"), id)
	if err != nil || stored.SealedCredentials == nil || stored.RequiredApprovals != 2 {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	if !strings.Contains(string(stored.Config), `"insecure_no_tls":true`) {
		t.Fatalf("config: %s", stored.Config)
	}
	r = keep(e.get(c, path))
	requireContains(t, r, "Connector dir created.", `data-testid="connector-credentials-note"`, "leave empty to keep",
		`value="ldap://127.0.0.1:1"`)
	r = keep(e.get(c, "/connectors"))
	requireContains(t, r, `data-connector-name="dir"`, `<span class="badge active">Set</span>`)

	// Saving with an empty password keeps the stored credentials.
	edit := ldapForm("dir renamed")
	edit.Set("bind_password", "")
	edit.Set("required_approvals", "1")
	r = keep(e.post(c, path, edit))
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", r.StatusCode, r.body)
	}
	after, _ := e.svc.GetConnector(context.Background(), app.SystemActor("test"), id)
	if after.Name != "dir renamed" || after.RequiredApprovals != 1 || !after.CredentialsUpdatedAt.Equal(stored.CredentialsUpdatedAt) {
		t.Fatalf("after edit: %+v", after)
	}
	// A refused edit shows the message, not the password.
	edit.Set("url", "http://nope")
	edit.Set("bind_password", bindPassword)
	r = keep(e.post(c, path, edit))
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad edit: %d", r.StatusCode)
	}
	requireContains(t, r, "scheme must be ldap or ldaps")

	// The test reports a failure readably; htmx gets only the box.
	r = keep(e.post(c, path+"/test", nil, "HX-Request", "true"))
	if r.StatusCode != http.StatusOK || strings.Contains(r.body, "<html") {
		t.Fatalf("htmx test: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, r, `id="connector-test"`, `data-testid="connector-test-failed"`)
	r = keep(e.post(c, path+"/test", nil))
	requireContains(t, r, "<html", `data-testid="connector-test-failed"`, `data-testid="connector-form"`)

	for _, b := range bodies {
		if strings.Contains(b.body, bindPassword) {
			t.Fatalf("the bind password appears in a page (status %d)", b.StatusCode)
		}
	}

	r = e.post(c, path+"/delete", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/connectors" {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, e.get(c, "/connectors"), "Connector dir renamed deleted.", `data-testid="connectors-empty"`)
	if r := e.get(c, path); r.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted connector: %d", r.StatusCode)
	}
}

func TestConnectorFakeTypeTest(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	conn := e.fakeConnector(1)
	c := e.client()
	e.login(c, "admin@example.com")
	r := e.post(c, "/connectors/"+strconv.FormatInt(conn.ID, 10)+"/test", nil, "HX-Request", "true")
	requireContains(t, r, `data-testid="connector-test-ok"`, "fake target reachable")
	// A type without a console form gets the JSON textareas.
	r = e.get(c, "/connectors/"+strconv.FormatInt(conn.ID, 10))
	requireContains(t, r, `name="config_json"`, `name="credentials_json"`)
	if strings.Contains(r.body, "fake-token") {
		t.Fatal("credentials shown")
	}
}
