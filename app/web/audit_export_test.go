package web_test

import (
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestAuditExportDownload: admins get the download button, carrying the
// filter's time range, and its route streams an export that verifies; the
// others get neither.
func TestAuditExportDownload(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("viewer@example.com", app.RoleViewer)
	signer, _, err := e.svc.LoadOrCreateAuditSigner(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	admin := e.client()
	e.login(admin, "admin@example.com")
	r := e.get(admin, "/audit?from=2026-01-01T00:00&event=user.created")
	if want := `href="/audit/export?from=2026-01-01T00%3A00"`; r.StatusCode != http.StatusOK || !strings.Contains(html.UnescapeString(r.body), want) {
		t.Fatalf("admin's audit page: %d, no %s", r.StatusCode, want)
	}
	d := e.get(admin, "/audit/export")
	if d.StatusCode != http.StatusOK || d.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("download: %d %q", d.StatusCode, d.Header.Get("Content-Type"))
	}
	res, err := app.VerifyAuditExport(strings.NewReader(d.body), signer.PublicKey())
	if err != nil || res.Records < 2 || res.Checkpoints < 1 {
		t.Fatalf("verify download: %+v, %v", res, err)
	}
	if r := e.get(admin, "/audit/export?from=nonsense"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("download with a bad from: %d, want 400", r.StatusCode)
	}

	viewer := e.client()
	e.login(viewer, "viewer@example.com")
	if r := e.get(viewer, "/audit"); strings.Contains(r.body, "audit-export") {
		t.Error("a viewer sees the download button")
	}
	if r := e.get(viewer, "/audit/export"); r.StatusCode != http.StatusForbidden {
		t.Errorf("viewer download: %d, want 403", r.StatusCode)
	}
}
