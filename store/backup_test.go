package store

import (
	"bytes"
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
			if _, err := db.BackupTo(ctx, target); err == nil || !strings.Contains(err.Error(), "pg_dump") {
				t.Errorf("BackupTo on PostgreSQL: %v, want a pointer to pg_dump", err)
			}
			return
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.PutSetting(ctx, "k", []byte("v")) })
		info, err := db.BackupTo(ctx, target)
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
	if _, err := db.BackupTo(t.Context(), target); !errors.Is(err, fs.ErrExist) {
		t.Errorf("BackupTo over a file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Errorf("existing file changed: %q", b)
	}
}

func TestCheckBackupRefuses(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	db := mustOpenSQLite(t)
	if _, err := db.BackupTo(ctx, newer); err != nil {
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
