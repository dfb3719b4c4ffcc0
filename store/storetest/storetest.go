// Package storetest opens real, migrated stores for tests and benchmarks
// of other packages, and seeds large fixtures for benchmarks. It lives
// apart from store so that the production binary does not link "testing".
package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/internal/pgtest"
)

// Environment variables read by the helpers.
const (
	// EnvTestPostgresURL points the tests at a PostgreSQL database; each
	// store gets a fresh schema there, dropped when the test ends.
	EnvTestPostgresURL = pgtest.EnvURL
	// EnvRequireIntegration=1 turns a missing EnvTestPostgresURL into a
	// failure, so CI cannot silently skip the PostgreSQL half of the suite.
	EnvRequireIntegration = pgtest.EnvRequireIntegration
)

// MustOpenStore opens a migrated store for tb: PostgreSQL in a fresh schema
// when NEXPLANE_TEST_POSTGRES_URL is set, SQLite in tb.TempDir() otherwise.
// It is closed (and the schema dropped) by tb.Cleanup.
func MustOpenStore(tb testing.TB) *store.DB {
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
func MustOpenBoth(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run(store.DriverSQLite, func(t *testing.T) { fn(t, MustOpenSQLite(t)) })
	u := os.Getenv(EnvTestPostgresURL)
	if u == "" {
		if os.Getenv(EnvRequireIntegration) == "1" {
			t.Fatalf("postgres: %s not set and %s=1", EnvTestPostgresURL, EnvRequireIntegration)
		}
		t.Logf("SKIP postgres: %s not set", EnvTestPostgresURL)
		return
	}
	t.Run(store.DriverPostgres, func(t *testing.T) { fn(t, MustOpenPostgres(t, u)) })
}

// MustOpenSQLite opens a migrated SQLite store in tb.TempDir().
func MustOpenSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	ctx := tb.Context()
	db, err := store.OpenSQLite(ctx, filepath.Join(tb.TempDir(), store.SQLiteFile), nil)
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
func MustOpenPostgres(tb testing.TB, baseURL string) *store.DB {
	tb.Helper()
	db, _, drop, err := openPostgres(tb.Context(), baseURL)
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

// openPostgres opens a migrated store in a fresh schema under baseURL and
// returns it with the schema's URL and a function that closes the store
// and drops the schema.
func openPostgres(ctx context.Context, baseURL string) (db *store.DB, schemaURL string, drop func() error, err error) {
	schemaURL, dropSchema, err := pgtest.NewSchema(ctx, baseURL)
	if err != nil {
		return nil, "", nil, err
	}
	drop = func() error {
		// Close the store first: the schema is dropped once nothing uses it.
		if db != nil {
			db.Close()
		}
		return dropSchema()
	}
	if db, err = store.OpenPostgres(ctx, schemaURL, nil); err != nil {
		return nil, "", nil, errors.Join(err, drop())
	}
	if _, err := db.Migrate(ctx); err != nil {
		return nil, "", nil, errors.Join(fmt.Errorf("migrate postgres: %w", err), drop())
	}
	return db, schemaURL, drop, nil
}

// MustPostgresURL creates a fresh schema under baseURL for processes that
// open the database themselves (server processes in tests) and returns a
// URL whose search_path is that schema; the schema is dropped when tb ends.
func MustPostgresURL(tb testing.TB, baseURL string) string {
	tb.Helper()
	u, drop, err := pgtest.NewSchema(tb.Context(), baseURL)
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

// Proxy is a switchable TCP proxy in front of PostgreSQL (see pgtest.Proxy).
type Proxy = pgtest.Proxy

// ProxyMode is how the proxy treats connections.
type ProxyMode = pgtest.ProxyMode

// The proxy's modes.
const (
	ProxyForward   = pgtest.Forward
	ProxyRefuse    = pgtest.Refuse
	ProxyBlackhole = pgtest.Blackhole
)

// NewProxy starts a Proxy in front of the PostgreSQL database at url.
func NewProxy(tb testing.TB, url string) *Proxy { return pgtest.NewProxy(tb, url) }
