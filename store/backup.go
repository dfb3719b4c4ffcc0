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

// BackupCheck vets a backup's temporary copy, opened as a store, before it
// takes its final name: cmd/nexplane verifies the audit chain with it.
type BackupCheck func(ctx context.Context, copy *DB) error

// BackupTo writes a consistent copy of the SQLite database to path, which
// must not exist yet: the copy is the state of one instant, taken while
// writers carry on beside it. The copy is written to a temporary file in
// path's directory, checked (integrity_check, schema, then check when not
// nil), synced and only then linked to path, so a failed or killed backup
// never leaves a file under the final name. The file gets mode 0600, as it
// holds password hashes and sealed secrets.
func (db *DB) BackupTo(ctx context.Context, path string, check BackupCheck) (info BackupInfo, err error) {
	if db.dialect != sqliteDialect {
		return info, errors.New("backup: use pg_dump for PostgreSQL backups")
	}
	existsErr := fmt.Errorf("backup: %s already exists; choose a new file name: %w", path, fs.ErrExist)
	// Refused early so no copy is made in vain; the link below is what
	// refuses atomically.
	if _, err := os.Lstat(path); err == nil {
		return info, existsErr
	} else if !errors.Is(err, fs.ErrNotExist) {
		return info, fmt.Errorf("backup: %w", err)
	}
	// CreateTemp makes the file 0600; VACUUM INTO accepts an empty file.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	f.Close()
	// The temporary name goes in every case: after success path is a
	// second link to the same file.
	defer removeSQLiteFiles(tmp)

	// A database newer than this binary can still be copied; restore is
	// where the version matters.
	info.Applied, info.Latest, err = db.SchemaVersion(ctx)
	if err != nil && !errors.Is(err, ErrSchemaTooNew) {
		return info, fmt.Errorf("backup: %w", err)
	}
	// VACUUM INTO reads the database in one read transaction (WAL lets the
	// writer go on meanwhile); it runs on the writer connection.
	if _, err = db.writer.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return info, fmt.Errorf("backup: %w", mapErr("write copy", "", err))
	}
	checked, err := checkBackup(ctx, tmp, true, check)
	if err != nil {
		return info, fmt.Errorf("backup: the copy failed its check: %w", err)
	}
	info.Size = checked.Size
	// Link, unlike rename, never replaces a file that appeared meanwhile.
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return info, existsErr
	} else if err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	return info, nil
}

// CheckBackup proves that path is an intact nexplane SQLite database of a
// schema version this binary knows, and leaves it as a single synced file
// (its WAL folded in), ready to be renamed into place. Checking opens the
// file read-write, so restore checks a copy, never the user's backup.
func CheckBackup(ctx context.Context, path string) (info BackupInfo, err error) {
	return checkBackup(ctx, path, false, nil)
}

// checkBackup is CheckBackup; allowNewer accepts a schema newer than this
// binary's (a backup may copy one; only restore refuses it), and check,
// when not nil, runs on the opened store unless its schema is newer.
func checkBackup(ctx context.Context, path string, allowNewer bool, check BackupCheck) (info BackupInfo, err error) {
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
	if err == nil && check != nil && info.Applied > 0 {
		err = check(ctx, db)
	}
	if allowNewer && errors.Is(err, ErrSchemaTooNew) {
		err = nil
	}
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
	return syncDir(filepath.Dir(path))
}

// syncDir makes dir's entries durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeSQLiteFiles removes a database file and the journal files SQLite
// may have left beside it.
func removeSQLiteFiles(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
