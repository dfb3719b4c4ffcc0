package main

// nexplane backup --to FILE     consistent online copy of the SQLite database
// nexplane restore --from FILE  put a backup in place while the server is stopped
//
// The server holds a shared flock on <data dir>/nexplane.lock for as long as
// it runs (lockDataDir); restore takes the same lock exclusively and without
// waiting, so it cannot run beside a server and a server cannot start in the
// middle of a restore.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nexplane/nexplane/store"
)

const (
	// dbFileName is the SQLite file store.Open uses inside the data dir.
	dbFileName = "nexplane.db"
	// lockFileName is the data dir's lock; see lockDataDir.
	lockFileName = "nexplane.lock"
)

// sqliteMagic starts every SQLite 3 database file.
var sqliteMagic = []byte("SQLite format 3\x00")

// errServerRunning is restore's answer when a server holds the data dir.
var errServerRunning = errors.New("the server is running; stop it first")

// errRestoreRunning is the server's answer when a restore holds the data dir.
var errRestoreRunning = errors.New("a restore is running in the data dir; wait for it to finish")

// lockDataDir takes the server's shared lock on dir/nexplane.lock (creating
// the data dir when needed) and returns the function that releases it. It
// fails at once, without waiting, while a restore holds the lock. Several
// servers and CLI commands may share the data dir; only restore excludes.
func lockDataDir(dir string) (release func(), err error) {
	if err := ensureDataDir(dir); err != nil {
		return nil, err
	}
	release, err = flockDataDir(dir, syscall.LOCK_SH)
	if errors.Is(err, errLocked) {
		return nil, errRestoreRunning
	}
	return release, err
}

// lockDataDirExclusive takes the lock restore needs: no server may hold it.
func lockDataDirExclusive(dir string) (release func(), err error) {
	release, err = flockDataDir(dir, syscall.LOCK_EX)
	if errors.Is(err, errLocked) {
		return nil, errServerRunning
	}
	return release, err
}

var errLocked = errors.New("locked")

func flockDataDir(dir string, how int) (func(), error) {
	path := filepath.Join(dir, lockFileName)
	// Read-only is enough for flock, so a lock file created by root (a
	// restore run as root) can still be opened by the service user.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	chownLikeDir(dir, path)
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The lock lives as long as the descriptor; closing it releases it.
	return func() { f.Close() }, nil
}

// chownLikeDir gives path the owner of dir when we run as root, so files a
// root-run restore creates stay usable by the service user.
func chownLikeDir(dir, path string) {
	if os.Geteuid() != 0 {
		return
	}
	st, err := os.Stat(dir)
	if err != nil {
		return
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		_ = os.Chown(path, int(sys.Uid), int(sys.Gid))
	}
}

func cmdBackup(ctx context.Context, e *env, args []string) error {
	fset := newFlagSet("backup", e.stderr)
	to := fset.String("to", "", "file to write the backup to; it must not exist")
	cfg, err := loadConfig(e.getenv, fset, args, false)
	if err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return usageErr("backup: unexpected argument %q", fset.Arg(0))
	}
	if cfg.DatabaseURL != "" {
		return errors.New("use pg_dump for PostgreSQL backups")
	}
	if *to == "" {
		return usageErr("backup: --to FILE is required")
	}
	src := filepath.Join(cfg.DataDir, dbFileName)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no database at %s: %v", src, errors.Unwrap(err))
	}
	target, err := filepath.Abs(*to)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// Creating the file first refuses an existing target atomically and
	// gives the copy mode 0600: it holds password hashes and sealed secrets.
	// VACUUM INTO accepts an empty file.
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("backup: %s already exists; choose a new file name", target)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(target)
		}
	}()

	db, err := store.OpenSQLite(ctx, src, e.log)
	if err != nil {
		return err
	}
	defer db.Close()
	// A database newer than this binary can still be copied; restore is
	// where the version matters.
	applied, _, err := db.SchemaVersion(ctx)
	if err != nil && !errors.Is(err, store.ErrSchemaTooNew) {
		return fmt.Errorf("backup: %w", err)
	}
	// VACUUM INTO reads the database in one read transaction: the copy is
	// the state of one instant, while the server keeps writing beside it
	// (WAL). It runs on the store's writer connection.
	if _, err := db.ExecRaw(ctx, "VACUUM INTO ?", target); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(target); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	st, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done = true
	fmt.Fprintf(e.stdout, "backup of %s (schema version %d, %d bytes) written to %s\n", src, applied, st.Size(), target)
	return nil
}

func cmdRestore(ctx context.Context, e *env, args []string) error {
	fset := newFlagSet("restore", e.stderr)
	from := fset.String("from", "", "backup file made by nexplane backup")
	cfg, err := loadConfig(e.getenv, fset, args, false)
	if err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return usageErr("restore: unexpected argument %q", fset.Arg(0))
	}
	if cfg.DatabaseURL != "" {
		return errors.New("use pg_restore or psql for PostgreSQL restores")
	}
	if *from == "" {
		return usageErr("restore: --from FILE is required")
	}
	if err := checkSQLiteHeader(*from); err != nil {
		return err
	}
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return err
	}
	release, err := lockDataDirExclusive(cfg.DataDir)
	if err != nil {
		return err
	}
	defer release()
	// A server older than the data dir lock holds no lock; its listening
	// port gives it away.
	if cfg.Listen != "" {
		if ln, err := net.Listen("tcp", cfg.Listen); errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("NEXPLANE_LISTEN %s is in use: %w", cfg.Listen, errServerRunning)
		} else if err == nil {
			ln.Close()
		}
	}

	// Copy the backup next to the database first, so the final step is one
	// rename within a directory, and check the copy, not the original.
	tmp, err := os.CreateTemp(cfg.DataDir, dbFileName+".restore-*")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	keepTmp := false
	defer func() {
		if !keepTmp {
			removeSQLite(tmpPath)
		}
	}()
	if err := copyFile(*from, tmpPath); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	applied, latest, err := checkBackup(ctx, e, tmpPath)
	if err != nil {
		return err
	}
	chownLikeDir(cfg.DataDir, tmpPath)

	// Keep the current database (with its WAL, which may hold committed
	// transactions) under a name that says when and why it was set aside.
	dbPath := filepath.Join(cfg.DataDir, dbFileName)
	kept := ""
	if _, err := os.Stat(dbPath); err == nil {
		kept = dbPath + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(dbPath+suffix, kept+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("restore: keep the current database: %w", err)
			}
		}
	} else {
		// No database, but a stray WAL would be replayed into the restored one.
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("restore: %w", err)
			}
		}
	}
	if err := os.Rename(tmpPath, dbPath); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	keepTmp = true
	if err := syncDir(cfg.DataDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(e.stdout, "restored %s (schema version %d) to %s\n", *from, applied, dbPath)
	if kept != "" {
		fmt.Fprintf(e.stdout, "the previous database is kept as %s\n", kept)
	}
	if applied < latest {
		fmt.Fprintf(e.stdout, "the server migrates it from version %d to %d when it starts\n", applied, latest)
	}
	return nil
}

// checkSQLiteHeader refuses anything that is not an SQLite 3 file before
// any work is done.
func checkSQLiteHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return fmt.Errorf("restore: %s is not an SQLite database", path)
	}
	return nil
}

// checkBackup proves that path is an intact nexplane database of a schema
// version this binary knows, and leaves it as a single file (no WAL).
func checkBackup(ctx context.Context, e *env, path string) (applied, latest int, err error) {
	// integrity_check is not part of the store's API; the driver is the
	// one the store registers.
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, 0, fmt.Errorf("restore: %w", err)
	}
	var verdict string
	err = raw.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&verdict)
	raw.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("restore: the backup cannot be read: %w", err)
	}
	if verdict != "ok" {
		return 0, 0, fmt.Errorf("restore: the backup is damaged: %s", verdict)
	}
	db, err := store.OpenSQLite(ctx, path, e.log)
	if err != nil {
		return 0, 0, fmt.Errorf("restore: %w", err)
	}
	applied, latest, err = db.SchemaVersion(ctx)
	if err == nil {
		// Fold any WAL back into the file before it is renamed.
		_, err = db.ExecRaw(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	switch {
	case errors.Is(err, store.ErrSchemaTooNew):
		return 0, 0, fmt.Errorf("restore refused: the backup's schema (version %d) is newer than this binary knows (%d); restore it with the nexplane version that made it", applied, latest)
	case err != nil:
		return 0, 0, fmt.Errorf("restore: %w", err)
	case applied == 0:
		return 0, 0, errors.New("restore refused: the file is an SQLite database but not a nexplane one (no schema_migrations)")
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, 0, fmt.Errorf("restore: %w", err)
		}
	}
	if err := syncFile(path); err != nil {
		return 0, 0, fmt.Errorf("restore: %w", err)
	}
	return applied, latest, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func removeSQLite(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
