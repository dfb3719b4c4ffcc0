package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/store/storetest"
)

// A server whose PostgreSQL refuses connections or never answers tells
// API clients 503 unavailable with Retry-After, console users a readable
// 503 page, and monitoring not-ready within /readyz's own 2 s, instead of
// 500s or hung requests; it recovers when the database is back.
func TestDatabaseOutageAnswersUnavailable(t *testing.T) {
	pg := os.Getenv(storetest.EnvTestPostgresURL)
	if pg == "" {
		requireIntegration(t, storetest.EnvTestPostgresURL+" is not set")
	}
	dbURL := storetest.MustPostgresURL(t, pg)
	proxy := storetest.NewProxy(t, dbURL)
	c := newCLI(t)
	c.env["DATABASE_URL"] = proxy.URL(dbURL) // the default connect_timeout (5 s) applies
	c.env["NEXPLANE_INSECURE_HTTP"] = "1"
	base, _ := startServer(t, c)
	c.mustCreateUser("viewer@example.com")
	// Runs before the server's shutdown (cleanups run last first), so
	// shutting down does not wait on a dead database.
	t.Cleanup(func() { proxy.Set(storetest.ProxyForward) })

	hc := insecureClient()
	hc.Timeout = 60 * time.Second // generous: the deadlines under test are far shorter
	login := func() (*http.Response, string) {
		t.Helper()
		resp, err := hc.Post(base+"/api/v1/auth/login", "application/json",
			strings.NewReader(`{"email":"viewer@example.com","password":"a long enough password"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := login(); resp.StatusCode != http.StatusOK {
		t.Fatalf("login with the database up: %d %s", resp.StatusCode, body)
	}

	for _, mode := range []struct {
		name string
		m    storetest.ProxyMode
	}{{"refuse", storetest.ProxyRefuse}, {"blackhole", storetest.ProxyBlackhole}} {
		t.Run(mode.name, func(t *testing.T) {
			proxy.Set(mode.m)

			start := time.Now()
			resp, err := hc.Get(base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if took := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || took > 4*time.Second {
				t.Errorf("readyz: %d after %v, want 503 within about 2 s", resp.StatusCode, took)
			}

			resp, body := login()
			var e struct {
				Error struct{ Code, Message string }
			}
			_ = json.Unmarshal([]byte(body), &e)
			if resp.StatusCode != http.StatusServiceUnavailable || e.Error.Code != "unavailable" || resp.Header.Get("Retry-After") == "" {
				t.Errorf("API login: %d %s (Retry-After %q), want 503 unavailable with Retry-After",
					resp.StatusCode, body, resp.Header.Get("Retry-After"))
			}

			form := url.Values{"email": {"viewer@example.com"}, "password": {"a long enough password"}}
			resp, err = hc.PostForm(base+"/login", form)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "database is not answering") {
				t.Errorf("console login: %d, want 503 with a readable page: %s", resp.StatusCode, b)
			}

			proxy.Set(storetest.ProxyForward)
			if resp, body := login(); resp.StatusCode != http.StatusOK {
				t.Fatalf("login after recovery: %d %s", resp.StatusCode, body)
			}
		})
	}
}
