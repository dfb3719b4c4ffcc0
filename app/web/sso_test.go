package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// The identity provider pages: admins only; a bad form comes back readable
// with what was entered but never the secret; a good one creates the
// provider, whose page shows the redirect URI and whose switch disables it;
// password sign-in cannot be turned off without an enabled provider.
func TestIdentityProviderPages(t *testing.T) {
	e := newEnv(t, envOpts{oidc: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("op@example.com", app.RoleOperator)
	opc := e.client()
	e.login(opc, "op@example.com")
	if r := e.get(opc, "/settings/identity-providers"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("operator sees providers: %d", r.StatusCode)
	}
	c := e.client()
	e.login(c, "admin@example.com")
	if r := e.get(c, "/settings/identity-providers/new?type=oidc"); r.StatusCode != http.StatusOK ||
		!strings.Contains(r.body, `data-testid="connector-field-issuer"`) || !strings.Contains(r.body, `type="password"`) {
		t.Fatalf("new provider form: %d", r.StatusCode)
	}
	const secret = "s3cret-value-never-echoed"
	form := url.Values{"type": {"oidc"}, "name": {"Entra ID"}, "issuer": {"http://login.example.com/tenant/v2.0"},
		"client_id": {"nexplane"}, "client_secret": {secret}, "rules": {"ops=operator\nadmins=admin"}, "default_role": {""}}
	r := e.post(c, "/settings/identity-providers/new", form)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "https") || strings.Contains(r.body, secret) ||
		!strings.Contains(r.body, "admins=admin") {
		t.Fatalf("bad provider: %d %s", r.StatusCode, r.body)
	}
	form.Set("rules", "ops")
	form.Set("issuer", "https://login.example.com/tenant/v2.0")
	if r := e.post(c, "/settings/identity-providers/new", form); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "group=role") {
		t.Fatalf("bad rules: %d", r.StatusCode)
	}
	form.Set("rules", "ops=operator\nadmins=admin")
	r = e.post(c, "/settings/identity-providers/new", form)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	page := r.Header.Get("Location")
	r = e.get(c, page)
	if !strings.Contains(r.body, "/login/sso/") || !strings.Contains(r.body, "/callback") || strings.Contains(r.body, secret) ||
		!strings.Contains(r.body, "admins=admin") {
		t.Fatalf("provider page: %s", r.body)
	}
	if r := e.post(c, page+"/enabled", url.Values{"enabled": {"false"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", r.StatusCode)
	}
	// Refused: back to the providers page (post/redirect/get) saying why.
	e.refused(t, c, e.post(c, "/settings/local-login", url.Values{"disabled": {"true"}}), "/settings/identity-providers",
		"nable an identity provider")
	if r := e.get(c, "/settings/identity-providers"); !strings.Contains(r.body, "Entra ID") || !strings.Contains(r.body, "disabled") {
		t.Fatalf("list: %s", r.body)
	}
}
