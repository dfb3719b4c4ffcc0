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
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
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
	// A real LDAP connector; these refusals never reach the directory.
	c, err := e.svc.CreateConnector(context.Background(), app.SystemActor("test"), app.ConnectorInput{
		Name: "dir one", Type: "ldap", Config: []byte(`{"url":"ldap://127.0.0.1:1","bind_dn":"cn=nexplane,ou=services,dc=example,dc=org",` +
			`"base_dn":"dc=example,dc=org","user_base":"ou=people,dc=example,dc=org","group_base":"ou=groups,dc=example,dc=org","insecure_no_tls":true}`)})
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
			for _, path := range []string{"/connectors", "/connectors/new", "/connectors/" + id, "/connectors/" + id + "/delete"} {
				if r := e.get(cl, path); r.StatusCode != http.StatusForbidden {
					t.Errorf("GET %s: %d", path, r.StatusCode)
				} else {
					requireContains(t, r, "cannot manage connectors; an admin can.")
				}
			}
			form := ldapForm("x")
			form.Set("confirm", "yes")
			for _, path := range []string{"/connectors", "/connectors/" + id, "/connectors/" + id + "/test", "/connectors/" + id + "/delete"} {
				if r := e.post(cl, path, form); r.StatusCode != http.StatusForbidden {
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

	// Deleting takes a confirmation step that works without JavaScript:
	// the detail page links to it, and a POST without the confirmation
	// deletes nothing but sends the browser there.
	r = e.get(c, path)
	requireContains(t, r, `href="`+path+`/delete" data-testid="connector-delete"`)
	if strings.Contains(r.body, `action="`+path+`/delete"`) {
		t.Fatal("the detail page has a form that deletes in one click")
	}
	r = e.post(c, path+"/delete", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path+"/delete" {
		t.Fatalf("unconfirmed delete: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	r = e.post(c, path+"/delete", url.Values{"confirm": {"no"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path+"/delete" {
		t.Fatalf("delete with confirm=no: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if _, err := e.svc.GetConnector(context.Background(), app.SystemActor("test"), id); err != nil {
		t.Fatalf("an unconfirmed delete deleted: %v", err)
	}
	r = e.get(c, path+"/delete")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("confirmation page: %d", r.StatusCode)
	}
	requireContains(t, r, "Delete connector dir renamed?", `data-testid="connector-delete-confirm"`,
		`<form method="post" action="`+path+`/delete"`, `<input type="hidden" name="confirm" value="yes">`,
		`data-testid="connector-delete-submit"`, `href="`+path+`" data-testid="connector-delete-cancel"`)

	r = e.post(c, path+"/delete", url.Values{"confirm": {"yes"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/connectors" {
		t.Fatalf("delete: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, e.get(c, "/connectors"), "Connector dir renamed deleted.", `data-testid="connectors-empty"`)
	if r := e.get(c, path); r.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted connector: %d", r.StatusCode)
	}
	if r := e.get(c, path+"/delete"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("confirmation page of a deleted connector: %d", r.StatusCode)
	}
}

// TestConnectorInUseNotDeleted: a confirmed delete of a connector that a
// change request refers to is a readable 409 on its page.
func TestConnectorInUseNotDeleted(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	conn := e.ldapConnector(dir, 1)
	c := e.client()
	e.login(c, "admin@example.com")
	e.createChange(c, conn.ID, "Uses it", uidOp("ldap.user.disable", "bob"))
	path := "/connectors/" + strconv.FormatInt(conn.ID, 10)
	r := e.post(c, path+"/delete", url.Values{"confirm": {"yes"}})
	if r.StatusCode != http.StatusConflict {
		t.Fatalf("delete in use: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, r, `data-testid="connector-error"`, "used by change requests", `data-testid="connector-detail"`)
	if _, err := e.svc.GetConnector(context.Background(), app.SystemActor("test"), conn.ID); err != nil {
		t.Fatal(err)
	}
}

// TestConnectorTestAgainstDirectory runs the connection test of a
// connector to a real slapd, over StartTLS with the test CA.
func TestConnectorTestAgainstDirectory(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	conn := e.ldapConnector(dir, 1)
	c := e.client()
	e.login(c, "admin@example.com")
	r := e.post(c, "/connectors/"+strconv.FormatInt(conn.ID, 10)+"/test", nil, "HX-Request", "true")
	requireContains(t, r, `data-testid="connector-test-ok"`, "bound as "+dir.BindDN)
	if strings.Contains(r.body, "<html") {
		t.Fatal("htmx test result is a whole page")
	}
	r2 := e.get(c, "/connectors/"+strconv.FormatInt(conn.ID, 10))
	requireContains(t, r2, `name="url"`, `name="bind_password"`)
	for _, b := range []response{r, r2} {
		if strings.Contains(b.body, dir.BindPassword) {
			t.Fatal("credentials shown")
		}
	}
}
