package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestWorkerQueriesUseIndexes: the worker polls the queue and the lease
// sweep, and the console counts changes awaiting review; none of them may
// scan the whole table.
func TestWorkerQueriesUseIndexes(t *testing.T) {
	db := mustOpenSQLite(t)
	for _, q := range []struct {
		query string
		args  []any
	}{
		{"SELECT id FROM change_requests WHERE state = '" + executing + "' AND lease_owner = '' ORDER BY id LIMIT ?", []any{10}},
		{"SELECT id FROM change_requests WHERE state = '" + executing + "' AND lease_owner <> '' AND lease_expires_at < ? ORDER BY id", []any{1}},
		{"SELECT id FROM change_requests WHERE emergency AND reviewed_by = 0 ORDER BY id DESC LIMIT ?", []any{10}},
	} {
		rows, err := db.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q.query, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		// A SCAN is a full pass, except over a partial index, which holds
		// only the rows the query wants.
		if slices.ContainsFunc(plan, func(d string) bool {
			return strings.HasPrefix(d, "SCAN") && !strings.Contains(d, "INDEX change_requests_needs_review")
		}) {
			t.Errorf("%s\nplan %q scans change_requests", q.query, plan)
		}
	}
}

// TestInventoryQueriesUseIndexes: the console's asset and drift lists and a
// sync's bookkeeping walk an index, never the whole table and never a sort
// (except ListFindings' severity order over one asset's or connector's
// findings, and text search, which filters the index walk).
func TestInventoryQueriesUseIndexes(t *testing.T) {
	db := mustOpenSQLite(t)
	ctx := t.Context()
	// Enough rows, with statistics, that the planner prefers the indexes.
	conns := []int64{mustCreateConnector(t, db, newConnector("a")).ID, mustCreateConnector(t, db, newConnector("b")).ID}
	mustTx(t, db, func(tx app.Tx) error {
		for i := range 2000 {
			a := newAsset(conns[i%2], fmt.Sprintf("kind%d", i%5), fmt.Sprint(i), fmt.Sprint(i))
			if i%4 == 0 {
				a.GoneAt = t0
			}
			if err := tx.CreateAsset(ctx, a); err != nil {
				return err
			}
			if i%10 == 0 {
				if err := tx.UpsertFinding(ctx, &app.Finding{AssetID: a.ID, Rule: fmt.Sprintf("rule%d", i%3), Severity: app.SeverityLow, Message: "m"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if _, err := db.writer.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}

	plan := func(run func(q queries) error) (string, []string) {
		t.Helper()
		rec := &recordingQuerier{querier: db.reader}
		if err := run(queries{q: rec, dialect: sqliteDialect}); err != nil {
			t.Fatal(err)
		}
		rows, err := db.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+rec.query, rec.args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return rec.query, lines
	}
	// mayScan names what a SCAN may read: a partial index (only the rows
	// wanted) or the walk that a filter stops at a page.
	check := func(name string, mayScan string, run func(q queries) error) {
		t.Helper()
		query, lines := plan(run)
		t.Logf("%s: %q", name, lines)
		for _, d := range lines {
			if strings.Contains(d, "TEMP B-TREE") {
				t.Errorf("%s sorts: %s\nplan %q", name, query, lines)
			}
			if strings.HasPrefix(d, "SCAN") && (mayScan == "" || !strings.Contains(d, mayScan)) &&
				// The open findings' partial index holds only open findings.
				!strings.Contains(d, "COVERING INDEX findings_open_rule") {
				t.Errorf("%s scans: %s\nplan %q", name, query, lines)
			}
		}
	}
	assets := func(f app.AssetFilter) func(q queries) error {
		return func(q queries) error { _, err := q.ListAssets(ctx, f); return err }
	}
	// A present-only list walks a partial index: a SCAN of only the rows wanted.
	check("assets present", "INDEX assets_present", assets(app.AssetFilter{BeforeID: 1000}))
	check("assets connector", "", assets(app.AssetFilter{ConnectorID: conns[0], BeforeID: 1000}))
	check("assets connector gone", "", assets(app.AssetFilter{ConnectorID: conns[0], IncludeGone: true}))
	check("assets kind", "", assets(app.AssetFilter{Kind: "kind1"}))
	check("assets kind gone", "", assets(app.AssetFilter{Kind: "kind1", IncludeGone: true, BeforeID: 1000}))
	// Text search filters a walk in id order that stops at a full page.
	check("assets text", "SCAN a", assets(app.AssetFilter{Text: "12"}))
	check("assets connector text", "", assets(app.AssetFilter{ConnectorID: conns[1], Text: "12"}))
	// Longer terms read the trigram index in id order (a virtual table
	// "SCAN" that the MATCH constraint serves) and look the assets up.
	check("assets trigram", "assets_search VIRTUAL TABLE INDEX", assets(app.AssetFilter{Text: "123", BeforeID: 1500}))
	check("assets trigram connector", "assets_search VIRTUAL TABLE INDEX", assets(app.AssetFilter{Text: "123", ConnectorID: conns[1], Finding: "any"}))
	check("connector assets", "", func(q queries) error { _, err := q.ConnectorAssets(ctx, conns[0]); return err })
	check("drift open", "INDEX drift_open", func(q queries) error {
		_, err := q.ListDrift(ctx, app.DriftFilter{OpenOnly: true, BeforeID: 10})
		return err
	})
	check("drift connector open", "", func(q queries) error {
		_, err := q.ListDrift(ctx, app.DriftFilter{ConnectorID: conns[0], OpenOnly: true})
		return err
	})
	check("resolve findings", "", func(q queries) error {
		_, err := q.ids(ctx, "open findings", "SELECT id FROM findings WHERE connector_id = ? AND resolved_at = 0", conns[0])
		return err
	})
	// The finding filter: the open findings of a rule are few; they, not the
	// assets, drive the query.
	_, lines := plan(assets(app.AssetFilter{Finding: "rule1"}))
	t.Logf("assets finding rule: %q", lines)
	_, lines = plan(assets(app.AssetFilter{Finding: "any"}))
	t.Logf("assets finding any: %q", lines)
}
