package main

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// stop ends the server as systemd does (SIGTERM) and waits for it.
func (p *serverProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not stop: %s", p.logs.String())
	}
}

// serveRefused runs `nexplane serve` expecting it to exit before it
// listens; it returns the exit status and the last line of stderr.
func serveRefused(t *testing.T, c *cli) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NEXPLANE_TEST_RUN_MAIN=1", "NEXPLANE_TEST_ARGS=serve", "NEXPLANE_LISTEN=127.0.0.1:0")
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("serve did not refuse: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return ee.ExitCode(), lines[len(lines)-1]
}

func readWitness(t *testing.T, path string) []app.WitnessCheckpoint {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ws, err := app.ReadWitness(f)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// copyDB copies the SQLite database files of dir (main file, WAL, shared
// memory) to dst, removing those dst has and src lacks.
func copyDB(t *testing.T, src, dst string) {
	t.Helper()
	for _, name := range []string{"nexplane.db", "nexplane.db-wal", "nexplane.db-shm"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(filepath.Join(dst, name))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditWitnessRefusesRollback: a server with a witness file appends
// every checkpoint to it; started on an older copy of the database, or on
// one truncated by SQL, it refuses with exit 1 and one line naming both
// heads, unless --accept-audit-rollback, which is audited.
func TestAuditWitnessRefusesRollback(t *testing.T) {
	c := newCLI(t)
	dataDir := c.env["NEXPLANE_DATA_DIR"]
	witness := filepath.Join(t.TempDir(), "witness.jsonl")
	c.env["NEXPLANE_AUDIT_WITNESS"] = witness

	// run serves until the witness holds the database's head, then stops.
	run := func() {
		t.Helper()
		srv := startServerProc(t, c)
		head := auditHead(t, c)
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if ws := readWitness(t, witness); len(ws) > 0 && ws[len(ws)-1].Checkpoint.Seq == head {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("witness never reached record %d\n%s", head, srv.logs.String())
			}
		}
		srv.stop(t)
	}

	appendRecords(t, c, 5)
	run()
	old := t.TempDir()
	copyDB(t, dataDir, old)
	oldHead := auditHead(t, c)
	appendRecords(t, c, 10)
	run()
	st, err := os.Stat(witness)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("witness file: %v, mode %v, want 0600", err, st.Mode())
	}
	ws := readWitness(t, witness)
	newest := ws[len(ws)-1].Checkpoint
	if code, out, stderr := c.run("", "audit", "verify", "--witness", witness); code != 0 {
		t.Fatalf("verify --witness: %d %q %q", code, out, stderr)
	}

	// Rolled back to the older copy.
	copyDB(t, old, dataDir)
	code, line := serveRefused(t, c)
	var oldHash string
	for _, w := range ws {
		if w.Checkpoint.Seq == oldHead {
			oldHash = w.Checkpoint.Hash
		}
	}
	if code != 1 || !strings.HasPrefix(line, "nexplane: audit witness "+witness) ||
		!strings.Contains(line, "rolled back") || oldHash == "" ||
		!strings.Contains(line, "head record "+strconv.FormatInt(oldHead, 10)+", hash "+oldHash) ||
		!strings.Contains(line, "record "+strconv.FormatInt(newest.Seq, 10)+", hash "+newest.Hash) {
		t.Fatalf("start on the older copy: exit %d %q, want 1 naming record %d/%s and %d/%s",
			code, line, oldHead, oldHash, newest.Seq, newest.Hash)
	}

	// Accepted: audited, witnessed, and the next start is clean.
	c.env["NEXPLANE_TEST_ARGS"] = "serve --accept-audit-rollback"
	run()
	delete(c.env, "NEXPLANE_TEST_ARGS")
	code, out, stderr := c.run("", "audit", "export")
	if code != 0 || !strings.Contains(out, `"audit.rollback_accepted"`) || !strings.Contains(out, newest.Hash) {
		t.Fatalf("audit export after the accepted rollback: %d %q %q", code, out, stderr)
	}
	run()

	// Truncated by SQL, triggers dropped.
	head := auditHead(t, c)
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "nexplane.db"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'`)
	if err != nil {
		t.Fatal(err)
	}
	var triggers []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		triggers = append(triggers, n)
	}
	rows.Close()
	for _, trg := range triggers {
		if _, err := db.Exec("DROP TRIGGER " + trg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`DELETE FROM audit_log WHERE id > ?`, head-2); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, line := serveRefused(t, c); code != 1 || !strings.Contains(line, "head record "+strconv.FormatInt(head-2, 10)) {
		t.Fatalf("start on the truncated log: exit %d %q, want 1 naming record %d", code, line, head-2)
	}
}
