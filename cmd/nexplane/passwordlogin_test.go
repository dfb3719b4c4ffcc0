package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// With password sign-in off and the identity provider out of reach, the
// CLI turns it back on: the way back in for admins.
func TestUserPasswordLoginBreakGlass(t *testing.T) {
	c := newCLI(t)
	base, _ := startServer(t, c)
	if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", "root@example.com", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatal(stderr)
	}
	hc := insecureClient()
	call := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	login := func() (int, map[string]any) {
		return call("POST", "/api/v1/auth/login", "", `{"email":"root@example.com","password":"a long enough password"}`)
	}
	status, body := login()
	if status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	token := body["token"].(string)
	if status, body := call("POST", "/api/v1/identity-providers", token, `{"name":"Unreachable","type":"oidc",
		"config":{"issuer":"https://idp.invalid","client_id":"nexplane"}}`); status != http.StatusCreated {
		t.Fatalf("create provider: %d %v", status, body)
	}
	if status, body := call("PUT", "/api/v1/settings/local-login", token, `{"disabled":true}`); status != http.StatusOK {
		t.Fatalf("password sign-in off: %d %v", status, body)
	}
	if status, _ := login(); status != http.StatusForbidden {
		t.Fatalf("password login while off: %d", status)
	}
	if code, _, stderr := c.run("", "user", "password-login", "maybe"); code != 2 || !strings.Contains(stderr, "on or off") {
		t.Fatalf("bad argument: %d %q", code, stderr)
	}
	if code, out, stderr := c.run("", "user", "password-login", "on"); code != 0 || !strings.Contains(out, "password sign-in is on") {
		t.Fatalf("password-login on: %d %q %q", code, out, stderr)
	}
	if status, _ := login(); status != http.StatusOK {
		t.Fatalf("password login after the CLI turned it on: %d", status)
	}
}
