package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runCmd runs one command function the way run does (exit status from
// exitStatus), so these tests need no dispatch entry in main.go.
func (c *cli) runCmd(fn func(context.Context, *env, []string) error, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	e := c.newEnv(strings.NewReader(""), &out, &errb)
	code = exitStatus(e, fn(context.Background(), e, args))
	return code, out.String(), errb.String()
}

func newBackupCLI(t *testing.T) *cli {
	c := newCLI(t)
	c.env["NEXPLANE_LISTEN"] = "127.0.0.1:0"
	return c
}

func (c *cli) mustCreateUser(email string) {
	c.t.Helper()
	if code, out, stderr := c.run("a long enough password\n", "user", "create", "--email", email, "--role", "viewer", "--password-stdin"); code != 0 {
		c.t.Fatalf("user create %s: %d %q %q", email, code, out, stderr)
	}
}

func (c *cli) userList() string {
	c.t.Helper()
	code, out, stderr := c.run("", "user", "list")
	if code != 0 {
		c.t.Fatalf("user list: %d %q", code, stderr)
	}
	return out
}

// counts reads users and user.created audit records from a database file.
func counts(t *testing.T, path string) (users, created int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT count(*) FROM users").Scan(&users); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM audit_log WHERE event = 'user.created'").Scan(&created); err != nil {
		t.Fatal(err)
	}
	return users, created
}

// TestBackupWhileWritingIsConsistentAndRestorable takes backups while users
// are being created (each creation writes the user and its audit record in
// one transaction) and checks every backup holds whole transactions only,
// passes audit verify and restores into a working data dir.
func TestBackupWhileWritingIsConsistentAndRestorable(t *testing.T) {
	c := newBackupCLI(t)
	c.mustCreateUser("first@example.com")

	var stop atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			var out, errb bytes.Buffer
			e := c.newEnv(strings.NewReader("a long enough password\n"), &out, &errb)
			if code := run(context.Background(), []string{"user", "create", "--email", fmt.Sprintf("w%d@example.com", i),
				"--role", "viewer", "--password-stdin"}, e); code != 0 {
				t.Errorf("writer: %d %s", code, errb.String())
				return
			}
			written.Add(1)
		}
	}()

	backups := t.TempDir()
	var files []string
	for i := 0; i < 5; i++ {
		for deadline := time.Now().Add(30 * time.Second); written.Load() < int64(3*(i+1)); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the writer stalled after %d users", written.Load())
			}
		}
		f := filepath.Join(backups, fmt.Sprintf("b%d.db", i))
		code, out, stderr := c.runCmd(cmdBackup, "--to", f)
		if code != 0 || !strings.Contains(out, "written to "+f) {
			t.Fatalf("backup: %d %q %q", code, out, stderr)
		}
		files = append(files, f)
	}
	stop.Store(true)
	wg.Wait()

	prev := 0
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
		users, created := counts(t, f)
		if users != created || users < 2 {
			t.Errorf("%s: %d users but %d user.created records: not one instant", f, users, created)
		}
		if users < prev {
			t.Errorf("%s: %d users, fewer than the backup before it (%d)", f, users, prev)
		}
		prev = users
	}

	// Restore the last backup into a fresh data dir: it is a working database.
	r := newBackupCLI(t)
	code, out, stderr := r.runCmd(cmdRestore, "--from", files[len(files)-1])
	if code != 0 || !strings.Contains(out, "restored ") {
		t.Fatalf("restore: %d %q %q", code, out, stderr)
	}
	if code, out, stderr := r.run("", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify after restore: %d %q %q", code, out, stderr)
	}
	if list := r.userList(); !strings.Contains(list, "first@example.com") {
		t.Errorf("restored users lack first@example.com:\n%s", list)
	}
	r.mustCreateUser("after-restore@example.com")
}

// TestRestoreReplacesAndKeepsTheOldDatabase restores an older backup over a
// newer database and finds the newer one kept beside it.
func TestRestoreReplacesAndKeepsTheOldDatabase(t *testing.T) {
	c := newBackupCLI(t)
	c.mustCreateUser("kept@example.com")
	f := filepath.Join(t.TempDir(), "b.db")
	if code, _, stderr := c.runCmd(cmdBackup, "--to", f); code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	c.mustCreateUser("later@example.com")

	code, out, stderr := c.runCmd(cmdRestore, "--from", f)
	if code != 0 || !strings.Contains(out, "previous database is kept as") {
		t.Fatalf("restore: %d %q %q", code, out, stderr)
	}
	list := c.userList()
	if !strings.Contains(list, "kept@example.com") || strings.Contains(list, "later@example.com") {
		t.Errorf("after restore:\n%s", list)
	}
	kept, _ := filepath.Glob(filepath.Join(c.env["NEXPLANE_DATA_DIR"], "nexplane.db.before-restore-*"))
	var main []string
	for _, k := range kept {
		if !strings.HasSuffix(k, "-wal") && !strings.HasSuffix(k, "-shm") {
			main = append(main, k)
		}
	}
	if len(main) != 1 {
		t.Fatalf("kept databases: %v", kept)
	}
	if users, _ := counts(t, main[0]); users != 2 {
		t.Errorf("kept database has %d users, want 2", users)
	}
}

func TestBackupRefusesExistingTarget(t *testing.T) {
	c := newBackupCLI(t)
	c.mustCreateUser("a@example.com")
	f := filepath.Join(t.TempDir(), "exists.db")
	if err := os.WriteFile(f, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := c.runCmd(cmdBackup, "--to", f)
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("backup over existing file: %d %q", code, stderr)
	}
	if b, _ := os.ReadFile(f); string(b) != "precious" {
		t.Errorf("existing file changed: %q", b)
	}
}

// A database whose audit log was altered is not backed up as if intact:
// the copy fails audit verification and nothing is left under the target
// name or beside it.
func TestBackupRefusesTamperedAuditAndLeavesNoFile(t *testing.T) {
	c := newBackupCLI(t)
	c.mustCreateUser("a@example.com")
	c.mustCreateUser("b@example.com")
	db, err := sql.Open("sqlite", filepath.Join(c.env["NEXPLANE_DATA_DIR"], "nexplane.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DROP TRIGGER audit_log_no_update",
		`UPDATE audit_log SET payload = '{"role":"admin"}' WHERE id = (SELECT max(id) FROM audit_log)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	dir := t.TempDir()
	target := filepath.Join(dir, "backup.db")
	code, _, stderr := c.runCmd(cmdBackup, "--to", target)
	if code != 1 || !strings.Contains(stderr, "audit BROKEN") {
		t.Fatalf("backup of a tampered database: %d %q", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files left by a refused backup: %v", entries)
	}
}

func TestRestoreRefusedWhileServerHoldsTheLock(t *testing.T) {
	c := newBackupCLI(t)
	c.mustCreateUser("a@example.com")
	f := filepath.Join(t.TempDir(), "b.db")
	if code, _, stderr := c.runCmd(cmdBackup, "--to", f); code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	release, err := lockDataDir(c.env["NEXPLANE_DATA_DIR"]) // what serve does
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := c.runCmd(cmdRestore, "--from", f)
	if code == 0 || !strings.Contains(stderr, "the server is running; stop it first") {
		t.Errorf("restore under a running server: %d %q", code, stderr)
	}
	// And a server cannot start while a restore holds the lock.
	release()
	rel2, err := lockDataDirExclusive(c.env["NEXPLANE_DATA_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	defer rel2()
	if _, err := lockDataDir(c.env["NEXPLANE_DATA_DIR"]); err != errRestoreRunning {
		t.Errorf("server lock during restore: %v", err)
	}
}

func TestRestoreRefusedWhileListenAddressInUse(t *testing.T) {
	c := newBackupCLI(t)
	c.mustCreateUser("a@example.com")
	f := filepath.Join(t.TempDir(), "b.db")
	if code, _, stderr := c.runCmd(cmdBackup, "--to", f); code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c.env["NEXPLANE_LISTEN"] = ln.Addr().String()
	code, _, stderr := c.runCmd(cmdRestore, "--from", f)
	if code == 0 || !strings.Contains(stderr, "stop it first") {
		t.Errorf("restore with the port taken: %d %q", code, stderr)
	}
}

func TestRestoreRefusesTooNewSchemaAndForeignFiles(t *testing.T) {
	c := newBackupCLI(t)
	c.mustCreateUser("a@example.com")
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	if code, _, stderr := c.runCmd(cmdBackup, "--to", newer); code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	db, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	notSQLite := filepath.Join(dir, "text.db")
	os.WriteFile(notSQLite, []byte("hello, this is not a database at all"), 0o600)
	foreign := filepath.Join(dir, "foreign.db")
	fdb, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fdb.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	fdb.Close()

	dbPath := filepath.Join(c.env["NEXPLANE_DATA_DIR"], "nexplane.db")
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{newer, "newer than this binary"},
		{notSQLite, "not an SQLite database"},
		{foreign, "not a nexplane one"},
		{filepath.Join(dir, "missing.db"), "no such file"},
	} {
		code, _, stderr := c.runCmd(cmdRestore, "--from", tc.file)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("restore %s: %d %q, want %q", filepath.Base(tc.file), code, stderr, tc.want)
		}
	}
	after, _ := os.ReadFile(dbPath)
	if !bytes.Equal(before, after) {
		t.Error("a refused restore changed the database")
	}
	if left, _ := filepath.Glob(filepath.Join(c.env["NEXPLANE_DATA_DIR"], "*restore*")); len(left) != 0 {
		t.Errorf("refused restores left files: %v", left)
	}
	if list := c.userList(); !strings.Contains(list, "a@example.com") {
		t.Errorf("users after refused restores:\n%s", list)
	}
}

func TestBackupAndRestoreOnPostgresSayUsePgTools(t *testing.T) {
	c := newBackupCLI(t)
	c.env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none"
	code, _, stderr := c.runCmd(cmdBackup, "--to", filepath.Join(t.TempDir(), "x.db"))
	if code == 0 || !strings.Contains(stderr, "use pg_dump for PostgreSQL backups") {
		t.Errorf("backup on PostgreSQL: %d %q", code, stderr)
	}
	code, _, stderr = c.runCmd(cmdRestore, "--from", filepath.Join(t.TempDir(), "x.db"))
	if code == 0 || !strings.Contains(stderr, "pg_restore") {
		t.Errorf("restore on PostgreSQL: %d %q", code, stderr)
	}
}

func TestBackupUsage(t *testing.T) {
	c := newBackupCLI(t)
	if code, _, stderr := c.runCmd(cmdBackup); code != 2 || !strings.Contains(stderr, "--to FILE is required") {
		t.Errorf("backup without --to: %d %q", code, stderr)
	}
	if code, _, stderr := c.runCmd(cmdRestore); code != 2 || !strings.Contains(stderr, "--from FILE is required") {
		t.Errorf("restore without --from: %d %q", code, stderr)
	}
	if code, _, stderr := c.runCmd(cmdBackup, "--to", filepath.Join(t.TempDir(), "x.db")); code != 1 || !strings.Contains(stderr, "no database at") {
		t.Errorf("backup of a missing database: %d %q", code, stderr)
	}
}
