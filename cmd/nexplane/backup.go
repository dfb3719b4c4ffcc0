package main

// nexplane backup --to FILE     consistent online copy of the SQLite database
// nexplane restore --from FILE  put a backup in place while the server is stopped
//
// The server holds a shared flock on <data dir>/nexplane.lock for as long as
// it runs (lockDataDir); restore takes the same lock exclusively and without
// waiting, so it cannot run beside a server and a server cannot start in the
// middle of a restore.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/store"
)

// lockFileName is the data dir's lock; see lockDataDir.
const lockFileName = "nexplane.lock"

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
	src := filepath.Join(cfg.DataDir, store.SQLiteFile)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no database at %s: %v", src, errors.Unwrap(err))
	}
	target, err := filepath.Abs(*to)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := store.OpenSQLite(ctx, src, e.log)
	if err != nil {
		return err
	}
	defer db.Close()
	info, err := db.BackupTo(ctx, target, verifyBackupAudit)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backup of %s (schema version %d, %d bytes) written to %s\n", src, info.Applied, info.Size, target)
	return nil
}

// verifyBackupAudit refuses a copy whose audit chain does not verify, as
// audit verify would report it, before the copy gets its final name. A
// database no server has opened yet has no signing key and nothing to verify.
func verifyBackupAudit(ctx context.Context, copy *store.DB) error {
	svc := app.NewService(app.Config{Store: copy})
	if _, err := svc.AuditPublicKey(ctx); app.ErrCode(err) == app.ENOTFOUND {
		return nil
	}
	res, err := svc.VerifyAudit(ctx, app.VerifyOptions{})
	var brk *app.ChainBreak
	if errors.As(err, &brk) {
		return fmt.Errorf("audit BROKEN at %s: %s: %s (%d records verified before)", brk.Where(), brk.Kind, brk.Reason, res.Records)
	}
	if err != nil {
		return fmt.Errorf("verify audit: %w", err)
	}
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
	if err := ensureDataDir(cfg.DataDir); err != nil {
		return err
	}

	// Copy the backup next to the database first, so the final step is one
	// rename within a directory, and check the copy: checking opens the file
	// read-write, and the user's backup stays untouched. A file that is no
	// backup is refused before the lock is looked at.
	tmp, err := os.CreateTemp(cfg.DataDir, store.SQLiteFile+".restore-*")
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
	info, err := store.CheckBackup(ctx, tmpPath)
	if err != nil {
		return fmt.Errorf("restore of %s refused: %w", *from, err)
	}
	chownLikeDir(cfg.DataDir, tmpPath)

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

	// Keep the current database (with its WAL, which may hold committed
	// transactions) under a name that says when and why it was set aside.
	dbPath := filepath.Join(cfg.DataDir, store.SQLiteFile)
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
	fmt.Fprintf(e.stdout, "restored %s (schema version %d) to %s\n", *from, info.Applied, dbPath)
	if kept != "" {
		fmt.Fprintf(e.stdout, "the previous database is kept as %s\n", kept)
	}
	if info.Applied < info.Latest {
		fmt.Fprintf(e.stdout, "the server migrates it from version %d to %d when it starts\n", info.Applied, info.Latest)
	}
	return nil
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeSQLite removes a database file and the journal files SQLite may
// have left beside it.
func removeSQLite(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
}
