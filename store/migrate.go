package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFS holds the numbered migrations of each dialect. Files are
// named NNNN_description.sql, numbered from 0001 without gaps, and the same
// number means the same change in both dialects.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew is returned (wrapped) by Migrate and SchemaVersion when the
// database was migrated by a newer binary; the server must refuse to start,
// because this binary does not know what the newer schema means.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the dialect's migrations in version order.
func (d dialect) migrations() ([]migration, error) {
	dir := "migrations/" + d.name()
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", d.name(), err)
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_description.sql", dir, e.Name())
		}
		// ReadDir sorts by name and the numbers are zero-padded, so the
		// versions must come out as 1, 2, 3, …
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s/%s: expected version %d", dir, e.Name(), len(ms)+1)
		}
		body, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	return ms, nil
}

// Migrate applies every pending migration, each in its own transaction
// together with its schema_migrations row, and returns how many it applied.
// It refuses to touch a database whose schema is newer than this binary.
func (db *DB) Migrate(ctx context.Context) (applied int, err error) {
	ms, err := db.dialect.migrations()
	if err != nil {
		return 0, err
	}
	return db.migrate(ctx, ms)
}

// migrate applies the pending ones of ms (tests pass their own list).
func (db *DB) migrate(ctx context.Context, ms []migration) (applied int, err error) {
	for {
		did, err := db.migrateNext(ctx, ms)
		if err != nil {
			return applied, err
		}
		if !did {
			return applied, nil
		}
		applied++
	}
}

// migrateNext applies the migration after the current version, if any. It
// re-reads the version inside its transaction, after taking the migration
// lock, so that servers starting at once never apply one migration twice.
func (db *DB) migrateNext(ctx context.Context, ms []migration) (bool, error) {
	t, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	defer t.Rollback()

	if db.dialect == postgresDialect {
		// SQLite needs no lock: the write transaction is IMMEDIATE already.
		if _, err := t.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey); err != nil {
			return false, fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := t.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`); err != nil {
		return false, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	current, err := currentVersion(ctx, t)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	if err := checkNotTooNew(current, len(ms)); err != nil {
		return false, err
	}
	if current == len(ms) {
		return false, nil
	}
	m := ms[current]
	if _, err := t.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migrate %s %s: %w", db.Driver(), m.name, err)
	}
	if _, err := t.ExecContext(ctx, db.dialect.rebind("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"),
		m.version, toMS(time.Now())); err != nil {
		return false, fmt.Errorf("migrate %s: record version: %w", m.name, err)
	}
	if err := t.Commit(); err != nil {
		return false, fmt.Errorf("migrate %s: commit: %w", m.name, err)
	}
	db.log.InfoContext(ctx, "store: applied migration", "driver", db.Driver(), "version", m.version, "name", m.name)
	return true, nil
}

// SchemaVersion reports the applied and the latest known migration; it
// fails with ErrSchemaTooNew when the database is ahead of this binary.
func (db *DB) SchemaVersion(ctx context.Context) (applied, latest int, err error) {
	ms, err := db.dialect.migrations()
	if err != nil {
		return 0, 0, err
	}
	latest = len(ms)
	var exists bool
	q := "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	if db.dialect == postgresDialect {
		// to_regclass follows search_path, like every other query here.
		q = "SELECT to_regclass('schema_migrations') IS NOT NULL"
	}
	if err := db.writer.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return 0, latest, fmt.Errorf("schema version: %w", err)
	}
	if !exists {
		return 0, latest, nil
	}
	applied, err = currentVersion(ctx, db.writer)
	if err != nil {
		return 0, latest, fmt.Errorf("schema version: %w", err)
	}
	return applied, latest, checkNotTooNew(applied, latest)
}

func currentVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	return int(v.Int64), nil
}

func checkNotTooNew(applied, latest int) error {
	if applied > latest {
		return fmt.Errorf("%w: database is at version %d, this binary knows up to %d; run a newer nexplane (downgrades are not supported)",
			ErrSchemaTooNew, applied, latest)
	}
	return nil
}
