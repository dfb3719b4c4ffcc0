package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// clientFrom is an HTTP client whose connections leave from the loopback
// address ip, so that the server sees distinct client addresses.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// loginFrom posts a login through c and returns the status.
func (e *testEnv) loginFrom(c *http.Client, email, password string) int {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := c.Post(e.srv.URL+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConcurrentValidLoginsAreNeverRefused: 300 logins with the right
// password at once, while another address guesses at the same account,
// all get in. Only failures count, and only against their own address.
func TestConcurrentValidLoginsAreNeverRefused(t *testing.T) {
	e := newTestEnv(t)
	e.mkUser("busy@example.com", app.RoleViewer)
	good, bad := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.3")
	var wg sync.WaitGroup
	statuses := make(chan int, 300)
	for i := range 400 {
		wg.Go(func() {
			if i%4 == 3 {
				e.loginFrom(bad, "busy@example.com", fmt.Sprint("wrong guess ", i))
				return
			}
			statuses <- e.loginFrom(good, "busy@example.com", testPassword)
		})
	}
	wg.Wait()
	close(statuses)
	n := 0
	for st := range statuses {
		n++
		if st != http.StatusOK {
			t.Errorf("valid login got %d", st)
		}
	}
	if n != 300 {
		t.Fatalf("%d valid logins, want 300", n)
	}
}

// TestGuessesFromOneAddressDoNotLockOutAnother: an attacker's failures
// throttle the attacker's address, not the user at theirs, even once the
// account has more failures than the per-account cap.
func TestGuessesFromOneAddressDoNotLockOutAnother(t *testing.T) {
	tests := []struct {
		name    string
		limiter *app.LoginLimiter // nil: the defaults
		guesses map[string]int    // failures per attacking address
	}{
		{"defaults, 12 guesses from one address", nil, map[string]int{"127.0.0.2": 12}},
		{"account past its cap", app.NewLoginLimiter(app.LoginLimitConfig{PairMaxFailures: 3, AccountHardCap: 5}),
			map[string]int{"127.0.0.2": 3, "127.0.0.4": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnvWith(t, testkit.Options{Configure: func(c *app.Config) { c.Limiter = tt.limiter }}, nil)
			e.mkUser("victim@example.com", app.RoleAdmin)
			var last int
			for ip, n := range tt.guesses {
				c := clientFrom(t, ip)
				for i := range n {
					last = e.loginFrom(c, "victim@example.com", fmt.Sprint("guess ", i))
				}
				if st := e.loginFrom(c, "victim@example.com", testPassword); st != http.StatusTooManyRequests {
					t.Errorf("right password from guessing address %s: %d, want 429", ip, st)
				}
			}
			if last != http.StatusTooManyRequests && last != http.StatusUnauthorized {
				t.Fatalf("last guess: %d", last)
			}
			if st := e.loginFrom(clientFrom(t, "127.0.0.3"), "victim@example.com", testPassword); st != http.StatusOK {
				t.Fatalf("right password from a clean address: %d, want 200", st)
			}
		})
	}
}

// TestFailedLoginAuditKeepsShortIdentifier: an unauthenticated client
// cannot write a large audit record through the email field.
func TestFailedLoginAuditKeepsShortIdentifier(t *testing.T) {
	e := newTestEnv(t)
	long := strings.Repeat("é", 20_000) + "@example.com" // 40 kB, multi-byte at the cut
	if st, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": long, "password": "whatever it is"}); st != http.StatusUnauthorized {
		t.Fatalf("login: %d %v", st, body)
	}
	evs, err := e.db.ListAudit(t.Context(), app.AuditFilter{Event: "auth.login_failed", Limit: 10})
	if err != nil || len(evs) != 1 {
		t.Fatalf("login_failed events = %d (%v), want 1", len(evs), err)
	}
	ev := evs[0]
	var p struct {
		Email string `json:"email"`
	}
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		t.Fatal(err)
	}
	for what, v := range map[string]string{"payload email": p.Email, "actor email": ev.ActorEmail} {
		if !strings.HasSuffix(v, "…(truncated)") || len(strings.TrimSuffix(v, "…(truncated)")) > 254 || !utf8.ValidString(v) {
			t.Errorf("%s: %d bytes, %q…", what, len(v), v[:min(len(v), 40)])
		}
	}
	if len(ev.Payload) > 1024 {
		t.Errorf("audit payload is %d bytes", len(ev.Payload))
	}
}
