package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestBackupToWritesACheckedCopy backs a store up, checks the copy as
// restore does and opens it: the copy holds what the store held.
func TestBackupToWritesACheckedCopy(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		target := filepath.Join(t.TempDir(), "backup.db")
		if db.Driver() == DriverPostgres {
			if _, err := db.BackupTo(ctx, target, nil); err == nil || !strings.Contains(err.Error(), "pg_dump") {
				t.Errorf("BackupTo on PostgreSQL: %v, want a pointer to pg_dump", err)
			}
			return
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.PutSetting(ctx, "k", []byte("v")) })
		info, err := db.BackupTo(ctx, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.Applied == 0 || info.Applied != info.Latest || info.Size == 0 {
			t.Errorf("backup info %+v", info)
		}
		st, err := os.Stat(target)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("backup file mode %v, want 0600", st.Mode().Perm())
		}
		checked, err := CheckBackup(ctx, target)
		if err != nil || checked.Applied != info.Applied {
			t.Fatalf("CheckBackup: %+v, %v", checked, err)
		}
		if _, err := os.Stat(target + "-wal"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("CheckBackup left a WAL: %v", err)
		}
		restored, err := OpenSQLite(ctx, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer restored.Close()
		if v, err := restored.Setting(ctx, "k"); err != nil || string(v) != "v" {
			t.Errorf("setting in the backup: %q, %v", v, err)
		}
	})
}

func TestBackupToRefusesExistingFile(t *testing.T) {
	db := mustOpenSQLite(t)
	target := filepath.Join(t.TempDir(), "exists.db")
	if err := os.WriteFile(target, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BackupTo(t.Context(), target, nil); !errors.Is(err, fs.ErrExist) {
		t.Errorf("BackupTo over a file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Errorf("existing file changed: %q", b)
	}
}

// A backup whose copy fails its check (here: the injected check, run after
// the copy is written and before it is named) leaves nothing behind: no
// file under the final name and no temporary file; the check sees the copy
// while the final name is still free.
func TestBackupToFailedCheckLeavesNoFile(t *testing.T) {
	db := mustOpenSQLite(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "backup.db")
	injected := errors.New("injected check failure")
	checked := false
	_, err := db.BackupTo(t.Context(), target, func(ctx context.Context, copy *DB) error {
		checked = true
		if _, err := os.Stat(target); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("final name exists before the check passed: %v", err)
		}
		if _, _, err := copy.SchemaVersion(ctx); err != nil {
			t.Errorf("the copy cannot be read in the check: %v", err)
		}
		return injected
	})
	if !errors.Is(err, injected) || !checked {
		t.Fatalf("BackupTo = %v (checked %v), want the injected failure", err, checked)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("files left after a failed backup: %v", names)
	}

	// The same target then works, and only the final file remains.
	if _, err := db.BackupTo(t.Context(), target, func(context.Context, *DB) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || entries[0].Name() != "backup.db" {
		t.Fatalf("after a backup the directory holds %v, want only backup.db", entries)
	}
	if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 0600", st, err)
	}
}

func TestCheckBackupRefuses(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	db := mustOpenSQLite(t)
	if _, err := db.BackupTo(ctx, newer, nil); err != nil {
		t.Fatal(err)
	}
	nb, err := OpenSQLite(ctx, newer, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = nb.execRaw(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
	nb.Close()
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	fdb, err := OpenSQLite(ctx, foreign, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fdb.execRaw(ctx, "CREATE TABLE t (x INTEGER)")
	fdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "text.db")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database "), 10), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
		is               error
	}{
		{"newer schema", newer, "newer than this binary", ErrSchemaTooNew},
		{"foreign database", foreign, "not a nexplane one", nil},
		{"not SQLite", text, "not an SQLite database", nil},
		{"missing", filepath.Join(dir, "missing.db"), "no such file", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckBackup(ctx, tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Errorf("CheckBackup: %v, want %q", err, tc.want)
			}
		})
	}
}
