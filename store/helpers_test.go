package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/store/internal/pgtest"
)

// The store's own tests open stores here: they cannot import storetest,
// which imports store.

// mustOpenBoth runs fn as subtest "sqlite", and as subtest "postgres" when
// NEXPLANE_TEST_POSTGRES_URL is set, each with its own fresh migrated store
// (storetest.MustOpenBoth for this package).
func mustOpenBoth(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	openBoth(t, true, fn)
}

// openBoth is mustOpenBoth; without migrate the stores are empty
// (migration tests build old schemas in them).
func openBoth(t *testing.T, migrate bool, fn func(t *testing.T, db *DB)) {
	t.Helper()
	t.Run(DriverSQLite, func(t *testing.T) {
		if migrate {
			fn(t, mustOpenSQLite(t))
			return
		}
		db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), SQLiteFile), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db)
	})
	u := os.Getenv(pgtest.EnvURL)
	if u == "" {
		if os.Getenv(pgtest.EnvRequireIntegration) == "1" {
			t.Fatalf("postgres: %s not set and %s=1", pgtest.EnvURL, pgtest.EnvRequireIntegration)
		}
		t.Logf("SKIP postgres: %s not set", pgtest.EnvURL)
		return
	}
	t.Run(DriverPostgres, func(t *testing.T) {
		schemaURL, drop, err := pgtest.NewSchema(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := drop(); err != nil {
				t.Error(err)
			}
		})
		db, err := OpenPostgres(t.Context(), schemaURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Registered after drop, so it runs first: the schema goes once
		// nothing uses it.
		t.Cleanup(func() { db.Close() })
		if migrate {
			if _, err := db.Migrate(t.Context()); err != nil {
				t.Fatalf("migrate postgres: %v", err)
			}
		}
		fn(t, db)
	})
}

// mustOpenSQLite opens a migrated SQLite store in tb.TempDir().
func mustOpenSQLite(tb testing.TB) *DB {
	tb.Helper()
	db, err := OpenSQLite(tb.Context(), filepath.Join(tb.TempDir(), SQLiteFile), nil)
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(tb.Context()); err != nil {
		tb.Fatalf("migrate sqlite: %v", err)
	}
	return db
}

// execRaw runs one statement with ? placeholders on the write pool,
// outside any transaction: tests use it to do what the application cannot,
// such as tampering with audit records.
func (db *DB) execRaw(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := db.writer.ExecContext(ctx, db.dialect.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("exec raw: %w", err)
	}
	return res, nil
}

// sqlitePlan returns EXPLAIN QUERY PLAN of the query ListAudit runs for f,
// captured by running it against a recording of its SQL.
func sqlitePlan(t *testing.T, r *sql.DB, f app.AuditFilter) string {
	t.Helper()
	rec := &recordingQuerier{querier: r}
	if _, err := (queries{q: rec, dialect: sqliteDialect}).ListAudit(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	rows, err := r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+rec.query, rec.args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "; ")
}

// recordingQuerier remembers the last query it was asked to run.
type recordingQuerier struct {
	querier
	query string
	args  []any
}

func (r *recordingQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r.query, r.args = query, args
	return r.querier.QueryContext(ctx, query, args...)
}
