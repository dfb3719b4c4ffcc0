package oidc

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/nexplane/nexplane/app"
)

func TestValidateConfig(t *testing.T) {
	p := New(nil)
	for _, tc := range []struct {
		name, in string
		ok       bool
		want     Config
	}{
		{"defaults filled", `{"issuer":"https://idp.example.com","client_id":" nexplane "}`, true,
			Config{Issuer: "https://idp.example.com", ClientID: "nexplane", Scopes: []string{"openid", "email", "profile"}, GroupsClaim: "groups"}},
		{"openid always first, once", `{"issuer":"https://idp.example.com","client_id":"c","scopes":["groups","openid"]}`, true,
			Config{Issuer: "https://idp.example.com", ClientID: "c", Scopes: []string{"openid", "groups"}, GroupsClaim: "groups"}},
		{"http on loopback", `{"issuer":"http://127.0.0.1:8080/realms/x","client_id":"c","groups_claim":"roles"}`, true,
			Config{Issuer: "http://127.0.0.1:8080/realms/x", ClientID: "c", Scopes: []string{"openid", "email", "profile"}, GroupsClaim: "roles"}},
		{"http elsewhere", `{"issuer":"http://idp.example.com","client_id":"c"}`, false, Config{}},
		{"no client id", `{"issuer":"https://idp.example.com"}`, false, Config{}},
		{"relative issuer", `{"issuer":"/realms/x","client_id":"c"}`, false, Config{}},
		{"issuer with user", `{"issuer":"https://u:p@idp.example.com","client_id":"c"}`, false, Config{}},
		{"unknown field", `{"issuer":"https://idp.example.com","client_id":"c","secret":"x"}`, false, Config{}},
		{"bad scope", `{"issuer":"https://idp.example.com","client_id":"c","scopes":["a b"]}`, false, Config{}},
		{"bad claim name", `{"issuer":"https://idp.example.com","client_id":"c","groups_claim":"a b"}`, false, Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := p.ValidateConfig(json.RawMessage(tc.in))
			if !tc.ok {
				if app.ErrCode(err) != app.EINVALID {
					t.Fatalf("got %s, %v; want invalid", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got Config
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if got.Issuer != tc.want.Issuer || got.ClientID != tc.want.ClientID || got.GroupsClaim != tc.want.GroupsClaim ||
				!slices.Equal(got.Scopes, tc.want.Scopes) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestIdentityFromClaims(t *testing.T) {
	for _, tc := range []struct {
		name   string
		claims string
		email  string
		groups []string
	}{
		{"array of groups", `{"email":"a@example.com","groups":["x","y",3]}`, "a@example.com", []string{"x", "y"}},
		{"one group as a string", `{"email":"a@example.com","groups":"x"}`, "a@example.com", []string{"x"}},
		{"unverified email dropped", `{"email":"a@example.com","email_verified":false}`, "", nil},
		{"verified email kept", `{"email":"a@example.com","email_verified":true}`, "a@example.com", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var claims map[string]any
			if err := json.Unmarshal([]byte(tc.claims), &claims); err != nil {
				t.Fatal(err)
			}
			claims["nonce"] = "n"
			id := identity("sub-1", claims, "groups")
			if id.Subject != "sub-1" || id.Email != tc.email || !slices.Equal(id.Groups, tc.groups) {
				t.Fatalf("got %+v", id)
			}
			if _, ok := id.Claims["nonce"]; ok {
				t.Fatal("protocol claims are kept for display")
			}
		})
	}
}
