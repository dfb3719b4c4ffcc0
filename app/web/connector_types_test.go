package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/aws/awstest"
)

var fieldTestIDRe = regexp.MustCompile(`data-testid="connector-field-([a-z]+)-([a-z_]+)"`)

// formFields lists the setting inputs of connector type typ on a page, in
// order.
func formFields(body, typ string) []string {
	var out []string
	for _, m := range fieldTestIDRe.FindAllStringSubmatch(body, -1) {
		if m[1] == typ {
			out = append(out, m[2])
		}
	}
	return out
}

// typed prefixes a form's setting names with the connector type, as the
// console names them ("aws.region"); name, type and approvals stay.
func typed(typ string, f url.Values) url.Values {
	out := url.Values{}
	for k, v := range f {
		switch k {
		case "name", "type", "required_approvals":
			out[k] = v
		default:
			out[typ+"."+k] = v
		}
	}
	return out
}

func fieldNames(fs []app.ConfigField) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// awsSecret has the shape of a secret access key; it must never appear in
// a page.
const awsSecret = "FormSecretNeverShown0123456789abcdefghij"

// TestConnectorFormFollowsSpec: for every registered type, the create and
// edit forms show exactly the type's ConfigSpec fields (config, then
// credentials as password inputs), the create form shows the defaults, a
// form post creates the connector, and secrets never come back.
func TestConnectorFormFollowsSpec(t *testing.T) {
	srv := awstest.Start(t)
	e := newEnv(t, envOpts{aws: true, hosts: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	e.login(c, "admin@example.com")
	reg := e.svc.Registry()
	if got := reg.DriverTypes(); !slices.Equal(got, []string{"agents", "aws", "ldap"}) {
		t.Fatalf("types: %v", got)
	}
	ldap := ldapForm("dir")
	for _, tc := range []struct {
		typ      string
		form     url.Values
		defaults []string // inputs the create form fills in
		stored   []string // what the edit form shows after the create
	}{
		{"ldap", ldap, []string{`name="ldap.sync_interval" value="15m"`, `name="ldap.password_max_age_days" value="90"`,
			"top\nperson\norganizationalPerson\ninetOrgPerson</textarea>", ">admins</textarea>"},
			[]string{`value="cn=nexplane,ou=services,dc=example,dc=org"`, `name="ldap.insecure_no_tls" value="true" checked`, ">admins</textarea>"}},
		{"aws", typed("aws", url.Values{"name": {"account"}, "type": {"aws"}, "required_approvals": {"1"}, "region": {srv.Region},
			"endpoint_url": {srv.URL}, "rotation_days": {"30"}, "access_key_id": {srv.ConnectorAccessKeyID}, "secret_access_key": {awsSecret}}),
			[]string{`name="aws.rotation_days" value="90"`, `name="aws.unused_days" value="90"`, `name="aws.sync_interval" value="15m"`},
			[]string{`name="aws.rotation_days" value="30"`, `name="aws.unused_days" value="90"`, `value="` + srv.URL + `"`}},
		{"agents", typed("agents", url.Values{"name": {"hosts"}, "type": {"agents"}, "required_approvals": {"1"}, "labels": {"env=test\r\nrole = web"},
			"sync_interval": {"10m"}}),
			[]string{`name="agents.timeout" value="60s"`, `name="agents.ssh_key_max_age_days" value="365"`, `name="agents.sync_interval" value="5m"`},
			[]string{">env=test\nrole=web</textarea>", `name="agents.sync_interval" value="10m"`}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			spec, err := reg.ConfigSpec(tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			if spec.Description == "" {
				t.Fatal("the type has no description for the type choice")
			}
			want := append(fieldNames(spec.Config()), fieldNames(spec.Secrets())...)
			var pages []response
			r := e.get(c, "/connectors/new?type="+tc.typ)
			pages = append(pages, r)
			if r.StatusCode != http.StatusOK || !slices.Equal(formFields(r.body, tc.typ), want) {
				t.Fatalf("new form %d: fields %v, want %v", r.StatusCode, formFields(r.body, tc.typ), want)
			}
			// ?type= checks that type's choice, described by its spec.
			requireContains(t, r, `value="`+tc.typ+`" checked required`, spec.Label, html.EscapeString(spec.Description))
			requireContains(t, r, tc.defaults...)
			for _, f := range spec.Secrets() {
				requireContains(t, r, `type="password" name="`+tc.typ+"."+f.Name+`" autocomplete="new-password"`)
			}
			// No setting input is required in HTML: hidden ones would block
			// the submit of another type.
			if regexp.MustCompile(`<(input|textarea)[^>]*name="` + tc.typ + `\.[^>]* required`).MatchString(r.body) {
				t.Fatal("a setting input is required in HTML")
			}

			r = e.post(c, "/connectors/new", tc.form)
			m := connectorLocRe.FindStringSubmatch(r.Header.Get("Location"))
			if r.StatusCode != http.StatusSeeOther || m == nil {
				t.Fatalf("create: %d %s", r.StatusCode, r.body)
			}
			r = e.get(c, m[0])
			pages = append(pages, r)
			if !slices.Equal(formFields(r.body, tc.typ), want) {
				t.Fatalf("edit form fields %v, want %v", formFields(r.body, tc.typ), want)
			}
			requireContains(t, r, tc.stored...)
			for _, p := range pages {
				for _, s := range []string{bindPassword, awsSecret} {
					if strings.Contains(p.body, s) {
						t.Fatal("a secret appears in a page")
					}
				}
			}
		})
	}
}

// TestConnectorFormRefusals: what the spec refuses comes back as a 400 on
// the form with app's message, what was entered kept, secrets not.
func TestConnectorFormRefusals(t *testing.T) {
	e := newEnv(t, envOpts{aws: true, hosts: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	e.login(c, "admin@example.com")
	with := func(f url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, v := range f {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				out.Del(kv[i])
			} else {
				out.Set(kv[i], kv[i+1])
			}
		}
		return out
	}
	aws := typed("aws", url.Values{"name": {"account"}, "type": {"aws"}, "required_approvals": {"1"}, "region": {"eu-central-1"},
		"access_key_id": {"AKIAFORMTEST00000000"}, "secret_access_key": {awsSecret}})
	hostsForm := url.Values{"name": {"hosts"}, "type": {"agents"}, "required_approvals": {"1"}}
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"missing required", with(ldapForm("dir"), "ldap.base_dn", ""), []string{"LDAP config: base_dn is required.", `value="ldap://127.0.0.1:1"`}},
		{"not a number", with(aws, "aws.rotation_days", "often"), []string{`AWS config: field &#34;rotation_days&#34; has the wrong type (want a whole number)`, `value="often"`}},
		{"sync interval", with(ldapForm("dir"), "ldap.sync_interval", "30s"), []string{"LDAP config: sync_interval must be between 1m and 168h, not 30s"}},
		{"missing secret", with(aws, "aws.secret_access_key", ""), []string{"AWS credentials: secret_access_key is required."}},
		{"map line", with(hostsForm, "agents.labels", "env=test\nweb"), []string{"Agent labels: line 2 is not key=value", "env=test\nweb</textarea>"}},
		{"bad label", with(hostsForm, "agents.labels", "Env=test"), []string{"label key"}},
		{"unknown type", with(hostsForm, "type", "ftp"), []string{"Unknown connector type &#34;ftp&#34;"}},
		{"no type", with(hostsForm, "type", ""), []string{"Unknown connector type &#34;&#34;"}},
		// Another type's inputs do not count: only the chosen type's.
		{"other type's settings", with(typed("aws", url.Values{"region": {"eu-central-1"}}), "name", "x", "type", "ldap", "required_approvals", "1"),
			[]string{"LDAP config: url is required."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(c, "/connectors/new", tc.form)
			if r.StatusCode != http.StatusBadRequest {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
			requireContains(t, r, append([]string{`data-testid="connector-form-error"`, `action="/connectors/new"`}, tc.want...)...)
			if strings.Contains(r.body, bindPassword) || strings.Contains(r.body, awsSecret) {
				t.Fatal("a secret appears in the page")
			}
		})
	}
	if cs, _ := e.svc.ListConnectors(t.Context(), app.SystemActor("test")); len(cs) != 0 {
		t.Fatalf("refused forms created %d connectors", len(cs))
	}

	// The settings that decide where the bind password goes cannot change
	// while the stored password is kept.
	r := e.post(c, "/connectors/new", ldapForm("dir"))
	path := connectorLocRe.FindString(r.Header.Get("Location"))
	if r.StatusCode != http.StatusSeeOther || path == "" {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	// The form says so next to each of them, and only them.
	page := e.get(c, path)
	requireContains(t, page, "ldap://host:389 (StartTLS is required) or ldaps://host:636. "+app.LocatesHelp)
	if n := strings.Count(page.body, app.LocatesHelp); n != 5 {
		t.Errorf("the locates note appears %d times, want 5 (url, bind_dn, ca_pem, tls_skip_verify, insecure_no_tls)", n)
	}
	for _, kv := range [][2]string{{"url", "ldap://127.0.0.2:1"}, {"bind_dn", "cn=other,dc=example,dc=org"}, {"insecure_no_tls", ""}} {
		r = e.post(c, path, with(ldapForm("dir"), "ldap."+kv[0], kv[1], "ldap.bind_password", ""))
		if r.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s changed with kept credentials: %d", kv[0], r.StatusCode)
		}
		requireContains(t, r, "Changing "+kv[0]+" changes where the stored credentials are sent")
	}
	// Other settings can; and with the password entered again, so can the URL.
	if r = e.post(c, path, with(ldapForm("dir"), "ldap.sync_interval", "1h", "ldap.bind_password", "")); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sync interval with kept credentials: %d %s", r.StatusCode, r.body)
	}
	if r = e.post(c, path, with(ldapForm("dir"), "ldap.url", "ldap://127.0.0.2:1")); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("url with credentials: %d %s", r.StatusCode, r.body)
	}
}
