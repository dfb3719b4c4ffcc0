package web

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/views"
)

// TestConnectorTypeList: the create form lists the registry's driver
// types; LDAP gets its own form, and a type the console has no form for
// gets the JSON textareas. This binary's only driver is LDAP, so the
// fallback is checked on the type list function with a second type name.
func TestConnectorTypeList(t *testing.T) {
	reg := app.NewRegistry()
	ldap.Register(reg)
	types := typesFor(reg.DriverTypes())
	if len(types) != 1 || types[0].Type != "ldap" || types[0].Label != "LDAP directory" {
		t.Fatalf("types of the real registry: %+v", types)
	}

	types = typesFor([]string{"ldap", "other"})
	names := func(fs []connField) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	if got := names(types[0].Fields); !slices.Contains(got, "bind_dn") || slices.Contains(got, configField) {
		t.Fatalf("ldap fields: %v", got)
	}
	other := types[1]
	if other.Type != "other" || !slices.Equal(names(other.Fields), []string{configField}) ||
		!slices.Equal(names(other.Secrets), []string{credentialsField}) {
		t.Fatalf("fallback: %+v", other)
	}

	f := views.ConnectorForm{Action: "/connectors", Type: "other", Types: typeOptions(types, "other"),
		Fields: formFieldsFor(other, nil), Secrets: secretFields(other), RequiredApprovals: "1"}
	var buf bytes.Buffer
	if err := views.NewConnectorPage(views.Page{User: &views.CurrentUser{Email: "a@example.com"}}, f).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{`<option value="ldap">LDAP directory (ldap)</option>`, `<option value="other" selected>other (other)</option>`,
		`<textarea id="connector-config-json" name="config_json"`, `type="password" name="credentials_json"`} {
		if !strings.Contains(html, want) {
			t.Errorf("form lacks %q", want)
		}
	}

	// The generic type's JSON becomes the config and credentials as given.
	cfg, err := buildConfig(other, map[string][]string{configField: {` {"a": 1} `}}, nil)
	if err != nil || string(cfg) != `{"a": 1}` {
		t.Fatalf("config %s %v", cfg, err)
	}
	if _, err := buildConfig(other, map[string][]string{configField: {`{`}}, nil); app.ErrCode(err) != app.EINVALID {
		t.Fatalf("bad config JSON: %v", err)
	}
	creds, err := buildCredentials(other, map[string][]string{credentialsField: {`{"token":"t"}`}})
	if err != nil || string(creds) != `{"token":"t"}` {
		t.Fatalf("credentials %s %v", creds, err)
	}
}
