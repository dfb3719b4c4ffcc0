package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	ssooidc "github.com/nexplane/nexplane/app/sso/oidc"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// Identity providers over the API: admins only, secrets write-only (never
// in a response), bad input a 4xx with nothing written, enable/disable by
// PATCH; the password sign-in switches; and JWT login refusing SSO
// accounts.
func TestIdentityProvidersAPI(t *testing.T) {
	e := newTestEnvWith(t, testkit.Options{Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) {
		ssooidc.Register(reg, nil)
	}}, nil)
	e.mkUser("admin@example.com", app.RoleAdmin)
	op := e.mkUser("op@example.com", app.RoleOperator)
	admin, opTok := e.login("admin@example.com"), e.login("op@example.com")
	const secret = "very-secret-client-secret"
	body := map[string]any{"name": "Okta", "type": "oidc",
		"config":  map[string]any{"issuer": "https://example.okta.com", "client_id": "nexplane"},
		"secrets": map[string]any{"client_secret": secret},
		"rules":   []map[string]string{{"group": "ops", "role": "operator"}}, "default_role": "viewer"}

	if status, _ := e.do("POST", "/api/v1/identity-providers", opTok, body); status != http.StatusForbidden {
		t.Fatalf("operator create: %d", status)
	}
	status, raw := e.doRaw("POST", "/api/v1/identity-providers", admin, body, nil)
	if status != http.StatusCreated || strings.Contains(string(raw), secret) || !strings.Contains(string(raw), `"secrets_set":true`) {
		t.Fatalf("create: %d %s", status, raw)
	}
	status, created := e.do("GET", "/api/v1/identity-providers", admin, nil)
	list, _ := created["identity_providers"].([]any)
	if status != http.StatusOK || len(list) != 1 {
		t.Fatalf("list: %d %v", status, created)
	}
	id := strconv.FormatInt(int64(list[0].(map[string]any)["id"].(float64)), 10)

	for _, bad := range []map[string]any{
		{"name": "x", "type": "oidc", "config": map[string]any{"issuer": "http://idp.example.com", "client_id": "c"}},
		{"name": "x", "type": "saml-but-unknown", "config": map[string]any{}},
		{"name": "x", "type": "oidc", "config": map[string]any{"issuer": "https://idp.example.com", "client_id": "c"}, "rules": []map[string]string{{"group": "g", "role": "root"}}},
		{"name": "x", "type": "oidc", "bogus": true},
	} {
		status, body := e.do("POST", "/api/v1/identity-providers", admin, bad)
		if status != http.StatusBadRequest || body["error"] == nil {
			t.Errorf("bad create %v: %d %v", bad, status, body)
		}
	}
	if _, again := e.do("GET", "/api/v1/identity-providers", admin, nil); len(again["identity_providers"].([]any)) != 1 {
		t.Fatal("bad input left a provider behind")
	}

	status, raw = e.doRaw("PATCH", "/api/v1/identity-providers/"+id, admin, map[string]any{"enabled": false}, nil)
	if status != http.StatusOK || !strings.Contains(string(raw), `"enabled":false`) {
		t.Fatalf("disable: %d %s", status, raw)
	}
	if status, _ := e.do("PUT", "/api/v1/settings/local-login", admin, map[string]any{"disabled": true}); status != http.StatusConflict {
		t.Fatalf("password sign-in off without an enabled provider: %d", status)
	}
	if status, _ := e.do("PATCH", "/api/v1/users/"+strconv.FormatInt(op.ID, 10)+"/sign-in", admin,
		map[string]any{"local_login_disabled": true}); status != http.StatusOK {
		t.Fatalf("per-user switch: %d", status)
	}
	if status, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "op@example.com", "password": testPassword}); status != http.StatusForbidden {
		t.Fatalf("JWT login with password sign-in off for the user: %d %v", status, body)
	}
	if status, _ := e.do("DELETE", "/api/v1/identity-providers/"+id, admin, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
}
