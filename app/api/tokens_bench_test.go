package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/httpx"
)

// BenchmarkAPITokenAuth measures GET /api/v1/me through the real API
// handler authenticated by an API token (format and checksum check,
// SHA-256, lookup by hash, owner lookup, role check; the last-use write
// happens at most once a minute, and the clock is frozen) against, in the
// same run, the same request with a JWT and a bare handler that writes the
// same answer without authenticating. The store is SQLite, or PostgreSQL
// when NEXPLANE_TEST_POSTGRES_URL is set.
func BenchmarkAPITokenAuth(b *testing.B) {
	e := newTokenEnv(b)
	e.mkUser("op@example.com", app.RoleOperator)
	jwt := e.login("op@example.com")
	secret := e.mkToken(jwt, map[string]any{"name": "bench"})["token"].(string)
	h := api.New(api.Config{Service: e.svc, Tokens: e.tokens})
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"id": "1", "email": "op@example.com", "role": app.RoleOperator})
	})
	run := func(b *testing.B, h http.Handler, bearer string) {
		req := httptest.NewRequest("GET", "/api/v1/me", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	}
	b.Run("token", func(b *testing.B) { run(b, h, secret) })
	b.Run("jwt", func(b *testing.B) { run(b, h, jwt) })
	b.Run("bare", func(b *testing.B) { run(b, bare, "") })
}
