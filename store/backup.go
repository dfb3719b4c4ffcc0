package store

// Backups of the SQLite database: what nexplane backup writes and what
// nexplane restore accepts. PostgreSQL has pg_dump and pg_restore for this.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// SQLiteFile is the database file Open uses inside the data directory.
const SQLiteFile = "nexplane.db"

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// BackupInfo describes a backup file.
type BackupInfo struct {
	// Applied is the schema version of the backup; Latest the one this
	// binary knows.
	Applied, Latest int
	// Size is the file's size in bytes.
	Size int64
}

// BackupTo writes a consistent copy of the SQLite database to path, which
// must not exist yet: the copy is the state of one instant, taken while
// writers carry on beside it. The file gets mode 0600, as it holds password
// hashes and sealed secrets. On failure no file is left at path.
func (db *DB) BackupTo(ctx context.Context, path string) (info BackupInfo, err error) {
	if db.dialect != sqliteDialect {
		return info, errors.New("backup: use pg_dump for PostgreSQL backups")
	}
	// Creating the file first refuses an existing target atomically and
	// fixes its mode; VACUUM INTO accepts an empty file.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return info, fmt.Errorf("backup: %s already exists; choose a new file name: %w", path, fs.ErrExist)
	}
	if err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	// A database newer than this binary can still be copied; restore is
	// where the version matters.
	info.Applied, info.Latest, err = db.SchemaVersion(ctx)
	if err != nil && !errors.Is(err, ErrSchemaTooNew) {
		return info, fmt.Errorf("backup: %w", err)
	}
	// VACUUM INTO reads the database in one read transaction (WAL lets the
	// writer go on meanwhile); it runs on the writer connection.
	if _, err = db.writer.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	if err = syncFile(path); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	info.Size = st.Size()
	return info, nil
}

// CheckBackup proves that path is an intact nexplane SQLite database of a
// schema version this binary knows, and leaves it as a single synced file
// (its WAL folded in), ready to be renamed into place. Checking opens the
// file read-write, so restore checks a copy, never the user's backup.
func CheckBackup(ctx context.Context, path string) (info BackupInfo, err error) {
	if err := checkSQLiteHeader(path); err != nil {
		return info, err
	}
	// integrity_check runs before the store opens the file, on a plain
	// connection, so a damaged file is reported as such.
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return info, fmt.Errorf("check backup: %w", err)
	}
	var verdict string
	err = raw.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&verdict)
	raw.Close()
	if err != nil {
		return info, fmt.Errorf("the backup cannot be read: %w", err)
	}
	if verdict != "ok" {
		return info, fmt.Errorf("the backup is damaged: %s", verdict)
	}
	db, err := OpenSQLite(ctx, path, nil)
	if err != nil {
		return info, fmt.Errorf("check backup: %w", err)
	}
	info.Applied, info.Latest, err = db.SchemaVersion(ctx)
	if err == nil {
		// Fold any WAL back into the file before it is renamed.
		_, err = db.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	switch {
	case errors.Is(err, ErrSchemaTooNew):
		return info, fmt.Errorf("the backup's schema (version %d) is newer than this binary knows (%d); restore it with the nexplane version that made it: %w",
			info.Applied, info.Latest, ErrSchemaTooNew)
	case err != nil:
		return info, fmt.Errorf("check backup: %w", err)
	case info.Applied == 0:
		return info, errors.New("the file is an SQLite database but not a nexplane one (no schema_migrations)")
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return info, fmt.Errorf("check backup: %w", err)
		}
	}
	if err := syncFile(path); err != nil {
		return info, fmt.Errorf("check backup: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return info, fmt.Errorf("check backup: %w", err)
	}
	info.Size = st.Size()
	return info, nil
}

// checkSQLiteHeader refuses anything that is not an SQLite 3 file before
// the driver gets to see it.
func checkSQLiteHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("check backup: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return errors.New("not an SQLite database")
	}
	return nil
}

// syncFile makes path and its directory entry durable.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
