package api_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestAuditExport: admins stream the export; it verifies offline with the
// public key alone, and each kind of tampering with the file is named.
func TestAuditExport(t *testing.T) {
	e := newTestEnv(t)
	e.mkUser("admin@example.com", app.RoleAdmin)
	e.mkUser("viewer@example.com", app.RoleViewer)
	admin, viewer := e.login("admin@example.com"), e.login("viewer@example.com")
	if status, body := e.do("GET", "/api/v1/audit/export", admin, nil); status != http.StatusConflict {
		t.Errorf("export before a signing key: %d %v, want 409", status, body)
	}
	signer, _, err := e.svc.LoadOrCreateAuditSigner(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.mkUser("b@example.com", app.RoleViewer)
	if _, err := e.svc.WriteCheckpoint(t.Context(), signer); err != nil {
		t.Fatal(err)
	}
	e.mkUser("c@example.com", app.RoleViewer) // after the last checkpoint

	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/api/v1/audit/export", viewer, http.StatusForbidden},
		{"/api/v1/audit/export?from=yesterday", admin, http.StatusBadRequest},
		{"/api/v1/audit/export?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", admin, http.StatusBadRequest},
		{"/api/v1/audit/export", "", http.StatusUnauthorized},
	} {
		if status, body := e.do("GET", tc.path, tc.token, nil); status != tc.want {
			t.Errorf("GET %s: %d %v, want %d", tc.path, status, body, tc.want)
		}
	}

	status, raw := e.doRaw("GET", "/api/v1/audit/export", admin, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("export: %d %s", status, raw)
	}
	res, err := app.VerifyAuditExport(bytes.NewReader(raw), signer.PublicKey())
	if err != nil || res.Records < 4 || res.FirstID != 1 || res.MidHistory || res.Checkpoints < 2 ||
		res.LastCheckpoint >= res.LastID || !res.Pinned {
		t.Fatalf("verify export: %+v, %v\n%s", res, err, raw)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(raw), "\n"), "\n")
	find := func(prefix string) int {
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return i
			}
		}
		t.Fatalf("no line starting %s in\n%s", prefix, raw)
		return -1
	}
	rec2, cp := find(`{"type":"record","id":2,`), find(`{"type":"checkpoint","seq":`)
	without := func(i int) string { return strings.Join(append(append([]string{}, lines[:i]...), lines[i+1:]...), "") }
	replaced := func(i int, old, new string) string {
		l := append([]string{}, lines...)
		l[i] = strings.Replace(l[i], old, new, 1)
		return strings.Join(l, "")
	}
	for _, tc := range []struct {
		name, file string
		kind       app.BreakKind
		where      string
	}{
		{"edited byte", replaced(rec2, `"event":"user.`, `"event":"usEr.`), app.BreakEdited, "record 2"},
		{"dropped record", without(rec2), app.BreakRemoved, "record 3"},
		{"dropped first record", without(1), app.BreakRemoved, "record 2"},
		{"dropped last record", without(len(lines) - 2), app.BreakRemoved, "line"},
		{"forged checkpoint", replaced(cp, `"at":"2`, `"at":"1`), app.BreakBadSignature, "checkpoint"},
		{"cut trailer", without(len(lines) - 1), app.BreakTruncated, "end of file"},
		{"cut mid-line", string(raw[:len(raw)/2]), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := app.VerifyAuditExport(strings.NewReader(tc.file), signer.PublicKey())
			var brk *app.ChainBreak
			if !errors.As(err, &brk) {
				t.Fatalf("verify: %v, want a break", err)
			}
			if tc.kind != "" && (brk.Kind != tc.kind || !strings.HasPrefix(brk.Where(), tc.where)) {
				t.Errorf("break %v, want %s at %s", brk, tc.kind, tc.where)
			}
		})
	}
}
