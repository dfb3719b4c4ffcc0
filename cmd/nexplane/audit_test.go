package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestAuditVerifyExportFileCLI: verify --file needs neither the database
// nor SECRET_KEY, says when an export starts mid-history, and exits 1 on a
// cut export.
func TestAuditVerifyExportFileCLI(t *testing.T) {
	c := newCLI(t)
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", email, "--role", "viewer", "--password-stdin"); code != 0 {
			t.Fatal(stderr)
		}
	}
	db, err := store.OpenSQLite(t.Context(), filepath.Join(c.env["NEXPLANE_DATA_DIR"], store.SQLiteFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := app.NewService(app.Config{Store: db})
	second, err := db.AuditByID(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	export := func(name string, from time.Time) string {
		var b bytes.Buffer
		x, err := svc.PrepareAuditExport(t.Context(), app.SystemActor("test"), from, time.Time{})
		if err == nil {
			err = x.WriteTo(t.Context(), &b)
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	full, mid := export("full.jsonl", time.Time{}), export("mid.jsonl", second.At)
	pub, err := db.Setting(t.Context(), app.AuditPublicKeySetting)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.jsonl")
	body := strings.TrimSuffix(string(raw), "\n")
	if err := os.WriteFile(cut, []byte(body[:strings.LastIndex(body, "\n")+1]), 0o600); err != nil {
		t.Fatal(err)
	}

	// Offline: no SECRET_KEY and a data directory without a database.
	delete(c.env, "SECRET_KEY")
	c.env["NEXPLANE_DATA_DIR"] = t.TempDir()
	key := base64.StdEncoding.EncodeToString(pub)
	if code, out, stderr := c.run("", "audit", "verify", "--file", full, "--key", key); code != 0 ||
		!strings.Contains(out, "export OK: 3 records (1..3)") || strings.Contains(out, "taken as given") {
		t.Errorf("verify full export: %d %q %q", code, out, stderr)
	}
	if code, out, stderr := c.run("", "audit", "verify", "--file", mid); code != 0 ||
		!strings.Contains(out, "starts at record 2: record 2's prev_hash is taken as given") || !strings.Contains(out, "read from the export itself") {
		t.Errorf("verify mid-history export: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := c.run("", "audit", "verify", "--file", cut, "--key", key); code != 1 ||
		!strings.Contains(stderr, "BROKEN at end of file: truncated") {
		t.Errorf("verify cut export: %d %q, want truncated", code, stderr)
	}
	if code, _, stderr := c.run("", "audit", "verify", "--file", full, "--key", base64.StdEncoding.EncodeToString(make([]byte, 32))); code != 1 ||
		!strings.Contains(stderr, "bad signature") {
		t.Errorf("verify with another pinned key: %d %q", code, stderr)
	}
}
