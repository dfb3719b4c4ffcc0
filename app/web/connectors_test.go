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
	"github.com/nexplane/nexplane/app/connector/aws/awstest"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/internal/testkit"
)

// bindPassword must never appear in any page.
const bindPassword = "Bind-Secret-Zz81-never-shown"

func ldapForm(name string) url.Values {
	return url.Values{
		"name": {name}, "type": {"ldap"}, "required_approvals": {"2"},
		"ldap.url":     {"ldap://127.0.0.1:1"},
		"ldap.bind_dn": {"cn=nexplane,ou=services,dc=example,dc=org"}, "ldap.base_dn": {"dc=example,dc=org"},
		"ldap.user_base": {"ou=people,dc=example,dc=org"}, "ldap.group_base": {"ou=groups,dc=example,dc=org"},
		"ldap.insecure_no_tls": {"true"}, "ldap.bind_password": {bindPassword},
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
			for _, path := range []string{"/connectors/new", "/connectors/" + id, "/connectors/" + id + "/delete"} {
				if r := e.post(cl, path, form); r.StatusCode != http.StatusForbidden {
					t.Errorf("POST %s: %d", path, r.StatusCode)
				}
			}
			// A refused test goes back to the connector's page (which this
			// role cannot see either), saying why.
			e.refused(t, cl, e.post(cl, "/connectors/"+id+"/test", nil), "/connectors/"+id, "cannot")
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
	// The only type is chosen already; the form posts to its own address.
	requireContains(t, r, `type="radio" name="type" value="ldap" checked required`, `name="ldap.bind_password"`, `type="password"`,
		`data-testid="connector-field-ldap-ca_pem"`, `data-testid="connector-field-ldap-tls_skip_verify"`, "labs and tests only",
		`action="/connectors/new"`, "Create and test connection")

	// A refused form keeps what was entered, except the password.
	bad := ldapForm("dir")
	bad.Set("ldap.user_base", "ou=people,dc=other,dc=org")
	r = keep(e.post(c, "/connectors/new", bad))
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad create: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, r, `data-testid="connector-form-error"`, "is not under base_dn", `action="/connectors/new"`,
		`value="cn=nexplane,ou=services,dc=example,dc=org"`, `value="ou=people,dc=other,dc=org"`, `value="ldap" checked`)

	// Created, then tested at once: nothing listens on port 1, so the
	// connector's page reports the failure, how to fix it, and "Test again".
	r = keep(e.post(c, "/connectors/new", ldapForm("dir")))
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
		`value="ldap://127.0.0.1:1"`, `data-testid="connector-test-failed"`, "Connection test failed: Connector &#34;dir&#34;:",
		`data-testid="connector-test-fix"`, `data-testid="connector-test-again"`)
	// The result shows once: a reload is the plain page.
	if r = keep(e.get(c, path)); strings.Contains(r.body, "connector-test-failed") || strings.Contains(r.body, "Connector dir created.") {
		t.Fatal("the test result or the flash shows twice")
	}
	r = keep(e.get(c, "/connectors"))
	requireContains(t, r, `data-connector-name="dir"`, `<span class="badge active">Set</span>`)

	// Saving with an empty password keeps the stored credentials.
	edit := ldapForm("dir renamed")
	edit.Set("ldap.bind_password", "")
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
	edit.Set("ldap.url", "http://nope")
	edit.Set("ldap.bind_password", bindPassword)
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
	requireContains(t, r, `id="connector-test"`, `data-testid="connector-test-failed"`, `hx-post="`+path+`/test"`)
	// Without JavaScript: post, redirect to the page, which shows it once.
	r = keep(e.post(c, path+"/test", nil))
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		t.Fatalf("test without htmx: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = keep(e.get(c, path))
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
	r := e.refused(t, c, e.post(c, path+"/delete", url.Values{"confirm": {"yes"}}), path, "used by change requests")
	requireContains(t, r, `data-testid="connector-detail"`)
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
	requireContains(t, r2, `name="ldap.url"`, `name="ldap.bind_password"`)
	for _, b := range []response{r, r2} {
		if strings.Contains(b.body, dir.BindPassword) {
			t.Fatal("credentials shown")
		}
	}
}

// TestConnectorCreateThenTest: creating a connector tests its connection in
// the same step; the 303 lands on the connector's page, which reports the
// test once: passed, or failed with app's reason, how to fix it and "Test
// again", the connector kept. Against real slapd and the AWS emulator, on
// both stores.
func TestConnectorCreateThenTest(t *testing.T) {
	dir := ldaptest.Start(t)
	srv := awstest.Start(t)
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOpts{aws: true, hosts: true, driver: driver})
		e.seedUser("admin@example.com", app.RoleAdmin)
		c := e.client()
		e.login(c, "admin@example.com")

		// Several types: the form waits for the user's choice.
		for _, path := range []string{"/connectors/new", "/connectors/new?type=ftp"} {
			r := e.get(c, path)
			requireContains(t, r, `data-testid="connector-type-hint"`, `name="type" value="agents" required`,
				`name="type" value="aws" required`, `name="type" value="ldap" required`)
			if strings.Contains(r.body, " checked required") {
				t.Fatalf("%s: a type is chosen for the user", path)
			}
		}

		ldapDir := func(name, password string) url.Values {
			return typed("ldap", url.Values{"name": {name}, "type": {"ldap"}, "required_approvals": {"1"}, "url": {dir.URL},
				"bind_dn": {dir.BindDN}, "base_dn": {dir.BaseDN}, "user_base": {dir.UserBase}, "group_base": {dir.GroupBase},
				"ca_pem": {string(dir.CAPEM)}, "bind_password": {password}})
		}
		account := func(name, secret string) url.Values {
			return typed("aws", url.Values{"name": {name}, "type": {"aws"}, "required_approvals": {"1"}, "region": {srv.Region},
				"endpoint_url": {srv.URL}, "access_key_id": {srv.ConnectorAccessKeyID}, "secret_access_key": {secret}})
		}
		const wrongSecret = "WrongSecretNeverShown0123456789abcdefghij"
		var pages []response
		for _, tc := range []struct {
			name string
			form url.Values
			want []string
		}{
			{"ldap passes", ldapDir("Directory", dir.BindPassword),
				[]string{`data-testid="connector-test-ok"`, "Connection test passed: bound as " + dir.BindDN}},
			{"ldap wrong password", ldapDir("Directory two", "not-the-password"),
				[]string{`data-testid="connector-test-failed"`, "Connection test failed: Connector &#34;Directory two&#34;: bind as " + dir.BindDN + " failed: invalid credentials",
					`data-testid="connector-test-fix"`, `href="#connector-edit"`, `data-testid="connector-test-again"`}},
			{"aws passes", account("Account", srv.ConnectorSecretAccessKey),
				[]string{`data-testid="connector-test-ok"`, "Connection test passed: authenticated as " + srv.ConnectorUserARN}},
			{"aws wrong secret", account("Account two", wrongSecret),
				[]string{`data-testid="connector-test-failed"`, "Connection test failed: Connector &#34;Account two&#34;:", `data-testid="connector-test-again"`}},
			{"agents", typed("agents", url.Values{"name": {"Hosts"}, "type": {"agents"}, "required_approvals": {"1"}}),
				[]string{`data-testid="connector-test-ok"`, "Connection test passed: 0 agents"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.post(c, "/connectors/new", tc.form)
				m := connectorLocRe.FindStringSubmatch(r.Header.Get("Location"))
				if r.StatusCode != http.StatusSeeOther || m == nil {
					t.Fatalf("create: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
				}
				id, _ := strconv.ParseInt(m[1], 10, 64)
				if _, err := e.svc.GetConnector(t.Context(), app.SystemActor("test"), id); err != nil {
					t.Fatalf("the connector is not kept: %v", err)
				}
				r = e.get(c, m[0])
				pages = append(pages, r)
				requireContains(t, r, append([]string{"Connector " + tc.form.Get("name") + " created."}, tc.want...)...)
				if r = e.get(c, m[0]); strings.Contains(r.body, "connector-test-ok") || strings.Contains(r.body, "connector-test-failed") {
					t.Fatal("the test result shows again on reload")
				}
			})
		}
		for _, p := range pages {
			for _, s := range []string{dir.BindPassword, srv.ConnectorSecretAccessKey, wrongSecret} {
				if strings.Contains(p.body, s) {
					t.Fatal("a secret appears in a page")
				}
			}
		}

		// A result shows on its own connector's page only.
		r := e.post(c, "/connectors/new", typed("agents", url.Values{"name": {"Hosts two"}, "type": {"agents"}, "required_approvals": {"1"}}))
		other := connectorLocRe.FindString(r.Header.Get("Location"))
		cs, err := e.svc.ListConnectors(t.Context(), app.SystemActor("test"))
		if err != nil || len(cs) < 2 || other == "" {
			t.Fatalf("connectors: %d %v %q", len(cs), err, other)
		}
		first := "/connectors/" + strconv.FormatInt(cs[0].ID, 10)
		if first == other {
			first = "/connectors/" + strconv.FormatInt(cs[1].ID, 10)
		}
		if r := e.get(c, first); strings.Contains(r.body, `data-testid="connector-test-ok"`) {
			t.Fatal("another connector's test result shows")
		}

		// A refused create stays on the form's address with the input,
		// not the password; nothing is created.
		before := len(cs)
		r = e.post(c, "/connectors/new", ldapDir("Directory", dir.BindPassword))
		if r.StatusCode != http.StatusConflict {
			t.Fatalf("duplicate name: %d %s", r.StatusCode, r.body)
		}
		requireContains(t, r, `data-testid="connector-form-error"`, `action="/connectors/new"`, `value="ldap" checked required`,
			`name="name" value="Directory"`, `value="`+dir.URL+`"`)
		if strings.Contains(r.body, dir.BindPassword) {
			t.Fatal("the password is echoed")
		}
		if cs, _ := e.svc.ListConnectors(t.Context(), app.SystemActor("test")); len(cs) != before {
			t.Fatalf("a refused create wrote: %d connectors, want %d", len(cs), before)
		}
	})
}
