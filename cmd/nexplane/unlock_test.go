package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestUserUnlockReachesRunningServer: the CLI clears throttling that the
// running server holds in memory, through the database both share.
func TestUserUnlockReachesRunningServer(t *testing.T) {
	c := newCLI(t)
	base, _ := startServer(t, c)
	if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", "ops@example.com", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatal(stderr)
	}
	hc := insecureClient()
	login := func(pw string) int {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"email": "ops@example.com", "password": pw})
		r, err := hc.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	// The default 10 failures lock the account for this address.
	for i := range 10 {
		if st := login("wrong password"); st != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, st)
		}
	}
	if st := login("a long enough password"); st != http.StatusTooManyRequests {
		t.Fatalf("right password while throttled: %d, want 429", st)
	}

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no email", []string{"user", "unlock"}, 2, "--email is required"},
		{"unknown user", []string{"user", "unlock", "--email", "ghost@example.com"}, 1, "not found"},
	}
	for _, tc := range cases {
		code, _, stderr := c.run("", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d %q, want %d with %q", tc.name, code, stderr, tc.code, tc.want)
		}
	}
	code, out, stderr := c.run("", "user", "unlock", "--email", " OPS@example.com ")
	if code != 0 || !strings.Contains(out, "login throttling cleared for ops@example.com") {
		t.Fatalf("unlock: %d %q %q", code, out, stderr)
	}
	if st := login("a long enough password"); st != http.StatusOK {
		t.Fatalf("right password after unlock: %d, want 200", st)
	}
	code, out, _ = c.run("", "audit", "export")
	if code != 0 || !strings.Contains(out, `"user.login_throttle_cleared"`) {
		t.Errorf("unlock not audited: %d %s", code, out)
	}
}
