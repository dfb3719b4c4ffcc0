package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Test helpers live in a non-test file so that other packages' tests can
// open a real, migrated store. Importing "testing" here costs production
// binaries nothing they do not already link.

// Environment variables read by the helpers.
const (
	// EnvTestPostgresURL points the tests at a PostgreSQL database; each
	// store gets a fresh schema there, dropped when the test ends.
	EnvTestPostgresURL = "NEXPLANE_TEST_POSTGRES_URL"
	// EnvRequireIntegration=1 turns a missing EnvTestPostgresURL into a
	// failure, so CI cannot silently skip the PostgreSQL half of the suite.
	EnvRequireIntegration = "NEXPLANE_REQUIRE_INTEGRATION"
)

// MustOpenStore opens a migrated store for tb: PostgreSQL in a fresh schema
// when NEXPLANE_TEST_POSTGRES_URL is set, SQLite in tb.TempDir() otherwise.
// It is closed (and the schema dropped) by tb.Cleanup.
func MustOpenStore(tb testing.TB) *DB {
	tb.Helper()
	if u := os.Getenv(EnvTestPostgresURL); u != "" {
		return MustOpenPostgres(tb, u)
	}
	return MustOpenSQLite(tb)
}

// MustOpenBoth runs fn as subtest "sqlite", and as subtest "postgres" when
// NEXPLANE_TEST_POSTGRES_URL is set, each with its own fresh migrated store.
// Without the URL it says loudly that PostgreSQL was skipped, or fails when
// NEXPLANE_REQUIRE_INTEGRATION=1.
func MustOpenBoth(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	openBoth(t, true, fn)
}

// openBoth is MustOpenBoth; without migrate the stores are empty
// (migration tests build old schemas in them).
func openBoth(t *testing.T, migrate bool, fn func(t *testing.T, db *DB)) {
	t.Helper()
	t.Run(DriverSQLite, func(t *testing.T) {
		if migrate {
			fn(t, MustOpenSQLite(t))
			return
		}
		db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "nexplane.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		fn(t, db)
	})
	u := os.Getenv(EnvTestPostgresURL)
	if u == "" {
		if os.Getenv(EnvRequireIntegration) == "1" {
			t.Fatalf("postgres: %s not set and %s=1", EnvTestPostgresURL, EnvRequireIntegration)
		}
		t.Logf("SKIP postgres: %s not set", EnvTestPostgresURL)
		return
	}
	t.Run(DriverPostgres, func(t *testing.T) {
		db, drop, err := openPostgresTestSchema(t.Context(), u, migrate)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := drop(); err != nil {
				t.Error(err)
			}
		})
		fn(t, db)
	})
}

// MustOpenSQLite opens a migrated SQLite store in tb.TempDir().
func MustOpenSQLite(tb testing.TB) *DB {
	tb.Helper()
	ctx := tb.Context()
	db, err := OpenSQLite(ctx, filepath.Join(tb.TempDir(), "nexplane.db"), nil)
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate sqlite: %v", err)
	}
	return db
}

// MustOpenPostgres creates schema nx_test_<random> in the database at
// baseURL, opens a migrated store whose search_path is that schema, and
// drops the schema when tb ends.
func MustOpenPostgres(tb testing.TB, baseURL string) *DB {
	tb.Helper()
	db, drop, err := OpenPostgresTestSchema(tb.Context(), baseURL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// OpenPostgresTestSchema is MustOpenPostgres for callers whose store
// outlives one test (benchmark fixtures): it returns the migrated store and
// a function that closes it and drops its schema.
func OpenPostgresTestSchema(ctx context.Context, baseURL string) (db *DB, drop func() error, err error) {
	return openPostgresTestSchema(ctx, baseURL, true)
}

// openPostgresTestSchema is OpenPostgresTestSchema, migrating only when
// migrate is set (migration tests start from an empty schema).
func openPostgresTestSchema(ctx context.Context, baseURL string, migrate bool) (db *DB, drop func() error, err error) {
	schemaURL, dropSchema, err := newPostgresTestSchema(ctx, baseURL)
	if err != nil {
		return nil, nil, err
	}
	drop = func() error {
		// Close the store first: the schema is dropped once nothing uses it.
		if db != nil {
			db.Close()
		}
		return dropSchema()
	}
	fail := func(err error) (*DB, func() error, error) {
		return nil, nil, errors.Join(err, drop())
	}
	if db, err = OpenPostgres(ctx, schemaURL, nil); err != nil {
		return fail(err)
	}
	if !migrate {
		return db, drop, nil
	}
	if _, err := db.Migrate(ctx); err != nil {
		return fail(fmt.Errorf("migrate postgres: %w", err))
	}
	return db, drop, nil
}

// MustPostgresURL creates a fresh schema under baseURL for processes that
// open the database themselves (server processes in tests) and returns a
// URL whose search_path is that schema; the schema is dropped when tb ends.
func MustPostgresURL(tb testing.TB, baseURL string) string {
	tb.Helper()
	u, drop, err := newPostgresTestSchema(tb.Context(), baseURL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Error(err)
		}
	})
	return u
}

// newPostgresTestSchema creates a schema with a random name and returns a
// URL whose search_path is it and a function that drops it.
func newPostgresTestSchema(ctx context.Context, baseURL string) (schemaURL string, drop func() error, err error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("postgres test schema: parse %s: %w", EnvTestPostgresURL, err)
	}
	admin, err := sql.Open("pgx", baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("postgres test schema: %w", err)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("postgres test schema: random name: %w", err)
	}
	schema := "nx_test_" + hex.EncodeToString(rnd[:])
	// pg_trgm lives once per database. Left to migration 0003 it would land
	// in the first test schema and go when that schema is dropped, taking
	// the other schemas' search indexes along; so put it in public first.
	// Servers racing on this may fail on pg_extension's unique key: the
	// extension then exists, which is all that matters.
	_, _ = admin.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("postgres test schema: create: %w", err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		return errors.Join(err, admin.Close())
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx passes unknown keys as runtime parameters
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
