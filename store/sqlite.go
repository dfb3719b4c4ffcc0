package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// sqlitePragmas are applied by the driver on every new connection.
// busy_timeout comes first so that the pragmas after it wait for a lock
// instead of failing with SQLITE_BUSY; WAL lets readers run beside the one
// writer; synchronous=FULL makes a commit durable on power loss.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)"

// sqliteReaders is the size of the read pool; reads in WAL mode run in
// parallel with each other and with the writer.
const sqliteReaders = 4

// OpenSQLite opens (creating if needed) the SQLite database at path with a
// one-connection write pool and a separate read pool.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		// The driver splits the DSN at '?', so such a path would be misread.
		return nil, fmt.Errorf("open sqlite %s: path must not contain '?' or '#'", path)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// _txlock=immediate takes the write lock at BEGIN, so a transaction never
	// fails half-way when it upgrades from reading to writing.
	writer, err := sql.Open("sqlite", path+"?"+sqlitePragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Connect the writer first: it switches the file to WAL before any reader,
	// which must not (query_only) write, opens it.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	// query_only makes a write through the read pool an error, not a
	// surprise second writer.
	reader, err := sql.Open("sqlite", path+"?"+sqlitePragmas+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s reader: %w", path, err)
	}
	reader.SetMaxOpenConns(sqliteReaders)
	reader.SetMaxIdleConns(sqliteReaders)
	reader.SetConnMaxLifetime(0)
	if err := reader.PingContext(ctx); err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("open sqlite %s reader: %w", path, err)
	}

	db := &DB{
		queries: queries{q: reader, dialect: sqliteDialect},
		dialect: sqliteDialect,
		writer:  writer,
		reader:  reader,
		log:     orDiscard(log),
		path:    path,
	}
	db.log.InfoContext(ctx, "store: opened sqlite", "path", path)
	return db, nil
}

// createPrivate creates the database file empty with mode 0600, whatever the
// umask, when it does not exist yet: it holds password hashes and sealed
// secrets, and SQLite gives its -wal and -shm files the database file's
// mode. An existing file keeps the mode its owner gave it.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
