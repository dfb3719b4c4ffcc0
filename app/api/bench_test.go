package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
)

// BenchmarkAuthenticatedRequest measures the per-request cost of
// authentication on GET /api/v1/me: JWT verify, the user lookup that enforces
// disable and session version, and the role check, without network I/O.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	e := newTestEnv(b)
	e.mkUser("admin@example.com", app.RoleAdmin)
	tok := e.login("admin@example.com")
	h := api.New(api.Config{Service: e.svc, Tokens: e.tokens})
	req := httptest.NewRequest("GET", "/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkVerifyAndRoleCheck isolates the CPU part: signature and claims
// checks plus the permission table, no database.
func BenchmarkVerifyAndRoleCheck(b *testing.B) {
	e := newTestEnv(b)
	u := e.mkUser("admin@example.com", app.RoleAdmin)
	tok, _, err := e.tokens.Issue(u)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := e.tokens.Verify(tok)
		if err != nil || !app.Can(c.Role, app.ActReadAudit) {
			b.Fatal(err)
		}
	}
}
