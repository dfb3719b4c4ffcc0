package store

import (
	"testing"

	"github.com/nexplane/nexplane/app"
)

// Internals the external tests and benchmarks (package store_test) need.

// DefaultAssetLimit is the page size of ListAssets.
const DefaultAssetLimit = defaultAssetLimit

// AuditListPlan is SQLite's plan for the query ListAudit runs for f on db.
func AuditListPlan(t *testing.T, db *DB, f app.AuditFilter) string {
	return sqlitePlan(t, db.reader, f)
}

// ExecRaw runs SQL on db's writer behind the store's back, as anyone who
// can write to the database could (tamper tests).
func ExecRaw(t testing.TB, db *DB, query string, args ...any) {
	t.Helper()
	if _, err := db.execRaw(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
