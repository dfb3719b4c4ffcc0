// Package store implements app.Store on SQLite (modernc.org/sqlite) and
// PostgreSQL (pgx), with database/sql and raw SQL written once where the
// dialects agree. Dialect differences live in small helpers: placeholder
// rebinding, the audit append lock and the migration files.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Driver names reported by (*DB).Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Compile-time proof that both halves implement the domain's seam.
var (
	_ app.Store = (*DB)(nil)
	_ app.Tx    = (*tx)(nil)
)

// DB is an open store. Reads on the DB itself go to the read pool; every
// change goes through WithTx on the write pool.
type DB struct {
	queries // reads, bound to the read pool

	dialect dialect
	// writer runs transactions and migrations. On SQLite it holds exactly one
	// connection, so writers queue in Go instead of failing with SQLITE_BUSY.
	writer *sql.DB
	// reader serves reads outside transactions; on PostgreSQL it is writer.
	reader *sql.DB
	log    *slog.Logger
	path   string // the SQLite file; empty on PostgreSQL
	url    string // the PostgreSQL URL, for the LISTEN connection; empty on SQLite
	// auditHook, when set, runs after a transaction that appended an audit
	// record commits (OnAuditCommitted).
	auditHook atomic.Pointer[func()]
	// tokenStmt is the prepared API token lookup (prepared on first use,
	// after migrations; see DB.APITokenByHash).
	tokenStmt preparedStmt
}

// OnAuditCommitted sets fn to run after every commit that appended an audit
// record in this process, so outbound streams wake at once instead of
// waiting for their poll.
func (db *DB) OnAuditCommitted(fn func()) { db.auditHook.Store(&fn) }

// Path is the SQLite database file, or "" on PostgreSQL (backups, tests
// that inspect the bytes at rest).
func (db *DB) Path() string { return db.path }

// Open opens the database named by databaseURL: PostgreSQL for a
// postgres:// or postgresql:// URL, SQLite in dataDir/SQLiteFile when the URL
// is empty. It does not migrate; call Migrate.
func Open(ctx context.Context, databaseURL, dataDir string, log *slog.Logger) (*DB, error) {
	switch {
	case databaseURL == "":
		if dataDir == "" {
			return nil, errors.New("open store: no DATABASE_URL and no data directory for SQLite")
		}
		return OpenSQLite(ctx, filepath.Join(dataDir, SQLiteFile), log)
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return OpenPostgres(ctx, databaseURL, log)
	default:
		// Never echo the URL: it may carry a password.
		scheme, _, _ := strings.Cut(databaseURL, ":")
		return nil, fmt.Errorf("open store: unsupported DATABASE_URL scheme %q (want postgres:// or postgresql://, or leave it empty for SQLite)", scheme)
	}
}

// Driver reports "sqlite" or "postgres".
func (db *DB) Driver() string { return db.dialect.name() }

// Ping checks that the database is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.writer.PingContext(ctx); err != nil {
		return markUnavailable(fmt.Errorf("ping %s: %w", db.Driver(), err))
	}
	if db.reader != db.writer {
		if err := db.reader.PingContext(ctx); err != nil {
			return markUnavailable(fmt.Errorf("ping %s reader: %w", db.Driver(), err))
		}
	}
	return db.checkDiskRoom()
}

// minFreeBytes is the free space below which Ping reports storage full: a
// few pages of WAL and journal, so readiness fails before writes do.
const minFreeBytes = 1 << 20

// checkDiskRoom reports storage full when the SQLite file's file system has
// less than minFreeBytes left. PostgreSQL's disk is the server's to watch;
// its disk_full errors map like SQLite's.
func (db *DB) checkDiskRoom() error {
	if db.path == "" {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(db.path), &st); err != nil {
		return fmt.Errorf("check free space: %w", err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < minFreeBytes {
		return app.Errorf(app.EUNAVAILABLE, "%s (%d bytes free)", msgStorageFull, free)
	}
	return nil
}

// Close closes both pools.
func (db *DB) Close() error {
	err := db.tokenStmt.close()
	err = errors.Join(err, db.writer.Close())
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	return err
}

// WithTx runs fn in one transaction on the write pool: it commits when fn
// returns nil and rolls back when fn returns an error or panics (the panic is
// then re-raised). The Tx must not be used after fn returns.
func (db *DB) WithTx(ctx context.Context, fn func(app.Tx) error) (err error) {
	sqlTx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return markUnavailable(fmt.Errorf("begin transaction: %w", err))
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Rollback errors are secondary to the error (or panic) that caused
		// them; log them rather than hide the first cause.
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			db.log.ErrorContext(ctx, "store: rollback failed", "err", rbErr)
		}
	}()
	t := &tx{queries: queries{q: sqlTx, dialect: db.dialect}}
	if err := fn(t); err != nil {
		if fromDriver(err) {
			return markUnavailable(err)
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return markUnavailable(fmt.Errorf("commit transaction: %w", err))
	}
	committed = true
	if hook := db.auditHook.Load(); hook != nil && t.appendedAudit {
		(*hook)()
	}
	return nil
}

// tx is a transaction handed to WithTx's fn: the same reads as the DB, bound
// to the transaction, plus the writes.
type tx struct {
	queries
	appendedAudit bool
}

// querier is what *sql.DB and *sql.Tx have in common, so that one set of
// read methods serves both.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries runs SQL written with ? placeholders against q, rebinding them for
// the dialect.
type queries struct {
	q       querier
	dialect dialect
}

func (q queries) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.q.ExecContext(ctx, q.dialect.rebind(query), args...)
}

func (q queries) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.q.QueryContext(ctx, q.dialect.rebind(query), args...)
}

func (q queries) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.q.QueryRowContext(ctx, q.dialect.rebind(query), args...)
}

// dialect is the SQL flavour of a connection.
type dialect int

const (
	sqliteDialect dialect = iota + 1
	postgresDialect
)

func (d dialect) name() string {
	if d == postgresDialect {
		return DriverPostgres
	}
	return DriverSQLite
}

// rebind turns ? placeholders into $1, $2, … for PostgreSQL. Our SQL never
// has a ? inside a string literal, so a plain scan is enough.
func (d dialect) rebind(query string) string {
	if d != postgresDialect || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// toMS and fromMS convert between time.Time and the stored unix milliseconds.
func toMS(t time.Time) int64 { return t.UnixMilli() }

func fromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// toOptMS and fromOptMS do the same for times that may not have happened
// yet: the zero time.Time is stored as 0 and 0 reads back as the zero time.
func toOptMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromOptMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMS(ms)
}

// roundOpt is t as it reads back from the database (UTC, milliseconds), so
// that a struct written by the store equals the one a read returns.
func roundOpt(t time.Time) time.Time { return fromOptMS(toOptMS(t)) }

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
