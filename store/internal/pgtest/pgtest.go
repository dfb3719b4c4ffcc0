// Package pgtest gives tests a PostgreSQL schema of their own. It is shared
// by the store's in-package tests and by store/storetest, which the
// in-package tests cannot import (storetest imports store).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
)

// Environment variables the test helpers read.
const (
	// EnvURL points the tests at a PostgreSQL database; each store gets a
	// fresh schema there, dropped when the test ends.
	EnvURL = "NEXPLANE_TEST_POSTGRES_URL"
	// EnvRequireIntegration=1 turns a missing EnvURL into a failure, so CI
	// cannot silently skip the PostgreSQL half of the suite.
	EnvRequireIntegration = "NEXPLANE_REQUIRE_INTEGRATION"
)

// NewSchema creates a schema with a random name in the database at baseURL
// and returns a URL whose search_path is it and a function that drops it.
func NewSchema(ctx context.Context, baseURL string) (schemaURL string, drop func() error, err error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("postgres test schema: parse %s: %w", EnvURL, err)
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
