package main

import (
	"database/sql"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/store"
)

// TestAuditVerifyCLI: verify needs no SECRET_KEY, checks a witness file, an
// expected head and a pinned key, and names the kind of break.
func TestAuditVerifyCLI(t *testing.T) {
	c := newCLI(t)
	for _, email := range []string{"a@example.com", "b@example.com"} {
		if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", email, "--role", "viewer", "--password-stdin"); code != 0 {
			t.Fatal(stderr)
		}
	}
	// Each CLI process checkpointed what it appended.
	if code, out, stderr := c.run("", "audit", "checkpoint"); code != 0 || !strings.Contains(out, "already checkpointed") {
		t.Fatalf("audit checkpoint: %d %q %q", code, out, stderr)
	}

	path := filepath.Join(c.env["NEXPLANE_DATA_DIR"], store.SQLiteFile)
	db, err := store.OpenSQLite(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := db.CheckpointsAfter(t.Context(), -1, 0)
	if err != nil || len(cs) == 0 {
		t.Fatalf("checkpoints %v, %v", cs, err)
	}
	var witness strings.Builder
	for i := range cs {
		witness.WriteString(cs[i].MarshalLine() + "\n")
	}
	pub, err := db.Setting(t.Context(), app.AuditPublicKeySetting)
	if err != nil {
		t.Fatal(err)
	}
	head, err := db.AuditByID(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	wf := filepath.Join(t.TempDir(), "witness.jsonl")
	kf := filepath.Join(t.TempDir(), "audit.pub")
	if err := os.WriteFile(wf, []byte(witness.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	delete(c.env, "SECRET_KEY") // a verifier holds only public state
	full := []string{"audit", "verify", "--witness", wf, "--key", kf, "--expect", "2:" + head.Hash}
	if code, out, stderr := c.run("", full...); code != 0 || !strings.Contains(out, "2 records verified") ||
		!strings.Contains(out, "witnessed states held") {
		t.Fatalf("verify: %d %q %q", code, out, stderr)
	}
	other := base64.StdEncoding.EncodeToString(make([]byte, 32))
	if code, _, stderr := c.run("", "audit", "verify", "--key", other); code != 1 || !strings.Contains(stderr, "bad signature") {
		t.Errorf("verify with another pinned key: %d %q, want a bad signature break", code, stderr)
	}
	if code, _, stderr := c.run("", "audit", "verify", "--expect", "2:nothex"); code != 2 {
		t.Errorf("bad --expect: %d %q, want usage error", code, stderr)
	}

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{"DROP TRIGGER audit_log_no_delete", "DELETE FROM audit_log"} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := c.run("", "audit", "verify"); code != 1 || !strings.Contains(stderr, "BROKEN at record 1: truncated") {
		t.Errorf("verify after deleting every record: %d %q, want truncated", code, stderr)
	}
	if code, _, stderr := c.run("", full...); code != 1 || !strings.Contains(stderr, "truncated") {
		t.Errorf("verify with witness after deleting every record: %d %q", code, stderr)
	}
}
