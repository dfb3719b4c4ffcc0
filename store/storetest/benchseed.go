package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/store"
)

// This file seeds large audit logs and inventories for benchmarks (in
// store and app/api).

// BenchDefaultRows is the audit log size of the list benchmarks unless
// NEXPLANE_BENCH_AUDIT_ROWS says otherwise.
const BenchDefaultRows = 1_000_000

// BenchResourceTypes cycle through the seeded records.
var BenchResourceTypes = []string{"user", "change_request", "connector", "agent"}

// BenchBase is the time of seeded record 1; records are one second apart.
var BenchBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// BenchAt is the time of seeded record i (0-based).
func BenchAt(i int) time.Time { return BenchBase.Add(time.Duration(i) * time.Second) }

// Bench is a migrated store for benchmarks together with a second pool on
// the same database, through which the seeders bulk-load rows: the store's
// API adds them one at a time and, by design, runs no caller's SQL.
type Bench struct {
	*store.DB
	raw *sql.DB
}

// OpenBench opens an empty migrated store that outlives any one benchmark
// (fixtures shared by a process): driver store.DriverSQLite in a new
// temporary directory, store.DriverPostgres in a fresh schema under
// NEXPLANE_TEST_POSTGRES_URL. closeFn closes it and removes its data.
func OpenBench(ctx context.Context, driver string) (b *Bench, closeFn func() error, err error) {
	switch driver {
	case store.DriverSQLite:
		dir, err := os.MkdirTemp("", "nexplane-bench-")
		if err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, store.SQLiteFile)
		db, err := store.OpenSQLite(ctx, path, nil)
		if err == nil {
			_, err = db.Migrate(ctx)
		}
		var raw *sql.DB
		if err == nil {
			// One connection, like the store's writer: SQLite has one writer.
			raw, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
			if err == nil {
				raw.SetMaxOpenConns(1)
			}
		}
		closeFn = func() error {
			var errs []error
			if raw != nil {
				errs = append(errs, raw.Close())
			}
			if db != nil {
				errs = append(errs, db.Close())
			}
			return errors.Join(append(errs, os.RemoveAll(dir))...)
		}
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("open bench store: %w", err), closeFn())
		}
		return &Bench{DB: db, raw: raw}, closeFn, nil
	case store.DriverPostgres:
		base := os.Getenv(EnvTestPostgresURL)
		if base == "" {
			return nil, nil, fmt.Errorf("open bench store: %s is not set", EnvTestPostgresURL)
		}
		db, schemaURL, drop, err := openPostgres(ctx, base)
		if err != nil {
			return nil, nil, err
		}
		raw, err := sql.Open("pgx", schemaURL)
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("open bench store: %w", err), drop())
		}
		return &Bench{DB: db, raw: raw}, func() error { return errors.Join(raw.Close(), drop()) }, nil
	}
	return nil, nil, fmt.Errorf("open bench store: unknown driver %q", driver)
}

// MustOpenBench is OpenBench for one test or benchmark, closed when tb ends.
func MustOpenBench(tb testing.TB, driver string) *Bench {
	tb.Helper()
	b, closeFn, err := OpenBench(tb.Context(), driver)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := closeFn(); err != nil {
			tb.Error(err)
		}
	})
	return b
}

func (b *Bench) postgres() bool { return b.Driver() == store.DriverPostgres }

// benchEvent is seeded record i (0-based): each (resource_type, resource_id)
// pair recurs every 4,000 records, so a resource has rows/4000 records.
func benchEvent(i int) *app.AuditEvent {
	actor := i % 50
	return &app.AuditEvent{
		ID:           int64(i + 1),
		At:           BenchAt(i),
		ActorType:    app.ActorUser,
		ActorID:      strconv.Itoa(actor),
		ActorEmail:   "user" + strconv.Itoa(actor) + "@example.com",
		Event:        "bench.event" + strconv.Itoa(i%10),
		ResourceType: BenchResourceTypes[i%4],
		ResourceID:   strconv.Itoa((i / 4) % 1000),
		Payload:      []byte(`{"i":` + strconv.Itoa(i) + `}`),
	}
}

// auditColumns are audit_log's columns in the order benchEvent's rows give.
const auditColumns = "id, at_ms, actor_type, actor_id, actor_email, event, resource_type, resource_id, payload, prev_hash, hash"

// SeedAudit appends n records forming a valid chain to an empty audit log,
// much faster than AppendAudit: multi-row INSERTs in large transactions on
// SQLite, COPY on PostgreSQL.
func (b *Bench) SeedAudit(ctx context.Context, n int) error {
	prev := app.GenesisHash
	var hashErr error
	row := func(i int) []any {
		e := benchEvent(i)
		e.PrevHash = prev
		h, err := e.ComputeHash()
		if err != nil && hashErr == nil {
			hashErr = err
		}
		prev = h
		return []any{e.ID, e.At.UnixMilli(), string(e.ActorType), e.ActorID, e.ActorEmail, e.Event,
			e.ResourceType, e.ResourceID, string(e.Payload), e.PrevHash, h}
	}
	if b.postgres() {
		if err := b.copyRows(ctx, "audit_log", auditColumns, n, row); err != nil {
			return err
		}
		if hashErr != nil {
			return fmt.Errorf("seed audit_log: %w", hashErr)
		}
		// Fresh statistics, as autovacuum would have after a while, so the
		// planner sees the table as it is.
		return b.exec(ctx, "VACUUM ANALYZE audit_log")
	}
	// 100,000 rows a transaction keeps the WAL from growing without bound.
	for start := 0; start < n; start += 100_000 {
		end := min(start+100_000, n)
		err := b.insertRows(ctx, "audit_log", auditColumns, end-start, func(i int) []any { return row(start + i) })
		if err != nil {
			return err
		}
		if hashErr != nil {
			return fmt.Errorf("seed audit_log: %w", hashErr)
		}
	}
	return b.exec(ctx, "ANALYZE")
}

// BenchDefaultAssets is the inventory size of the asset benchmarks unless
// NEXPLANE_BENCH_ASSETS says otherwise.
const BenchDefaultAssets = 100_000

// Names of seeded assets: first.last<i>, so a last name matches 1 in 50.
var (
	benchFirstNames = strings.Fields("alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent victor walter yvonne")
	benchLastNames  = strings.Fields("smith jones taylor brown williams wilson johnson davies robinson wright thompson evans walker white roberts green hall wood jackson clarke " +
		"patel khan lewis james phillips mason mitchell rose davis rodriguez cox alexander garden campbell johnston moore smyth oneill doherty stewart quinn murphy graham mclaughlin hamilton murray hughes")
)

// BenchAssetName is the name of seeded asset i (0-based); its id is i+1.
func BenchAssetName(i int) string {
	return benchFirstNames[i%len(benchFirstNames)] + "." + benchLastNames[(i/len(benchFirstNames))%len(benchLastNames)] + strconv.Itoa(i)
}

// searchKey is what the store keeps in assets.search (store's searchKey);
// TestSeededAssetsAreFound notices when the two drift apart.
func searchKey(name, externalID string) string {
	return strings.ToLower(name) + "\n" + strings.ToLower(externalID)
}

// SeedAssets creates four connectors (aws-0, ldap-1, …) and n assets
// spread over them, with kinds, ARNs, access key ids and DNs as real syncs
// store them; one asset in ten is gone and one in twenty has an open
// finding. Multi-row INSERTs on SQLite, COPY on PostgreSQL, like
// SeedAudit. The store must hold no connectors yet.
func (b *Bench) SeedAssets(ctx context.Context, n int) error {
	var conns []int64
	err := b.WithTx(ctx, func(tx app.Tx) error {
		for i, typ := range []string{"aws", "ldap", "aws", "ldap"} {
			c := &app.Connector{Name: typ + "-" + strconv.Itoa(i), Type: typ, Config: []byte(`{}`), RequiredApprovals: 1}
			if err := tx.CreateConnector(ctx, c); err != nil {
				return err
			}
			conns = append(conns, c.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed assets: %w", err)
	}
	seen := BenchBase.UnixMilli()
	asset := func(i int) []any {
		name := BenchAssetName(i)
		conn := i % len(conns)
		var kind, ext, attrs string
		switch {
		case conn%2 == 1 && i%7 == 0:
			kind, ext, attrs = "ldap.group", "cn="+name+",ou=Groups,dc=example,dc=com", `{"members":12}`
		case conn%2 == 1:
			kind, ext, attrs = "ldap.user", "uid="+name+",ou=People,dc=example,dc=com", `{"mail":"`+name+`@example.com","disabled":false}`
		case i%3 == 0:
			kind, ext, attrs = "aws.iam.access_key", fmt.Sprintf("AKIA%016X", uint64(i)*2654435761), `{"user":"`+name+`","status":"Active","created":"2025-01-01T00:00:00Z"}`
		default:
			kind, ext, attrs = "aws.iam.user", "arn:aws:iam::123456789012:user/"+name, `{"path":"/","mfa":true}`
		}
		var gone int64
		if i%10 == 9 {
			gone = seen
		}
		return []any{int64(i + 1), conns[conn], kind, ext, name, attrs, searchKey(name, ext), seen, seen, gone}
	}
	finding := func(i int) []any { // of asset 20*i
		a := asset(20 * i)
		return []any{a[0], a[1], "bench.rule" + strconv.Itoa(i%3), "medium", "seeded", "", "", seen, seen}
	}
	const assetCols = "id, connector_id, kind, external_id, name, attributes, search, first_seen, last_seen, gone_at"
	const findingCols = "asset_id, connector_id, rule, severity, message, remedy_type, remedy_params, first_seen, last_seen"
	if b.postgres() {
		if err := b.copyRows(ctx, "assets", assetCols, n, asset); err != nil {
			return err
		}
		if err := b.exec(ctx, "SELECT setval(pg_get_serial_sequence('assets', 'id'), (SELECT max(id) FROM assets))"); err != nil {
			return err
		}
		if err := b.copyRows(ctx, "findings", findingCols, (n+19)/20, finding); err != nil {
			return err
		}
		if err := b.exec(ctx, "VACUUM ANALYZE assets"); err != nil {
			return err
		}
		return b.exec(ctx, "VACUUM ANALYZE findings")
	}
	if err := b.insertRows(ctx, "assets", assetCols, n, asset); err != nil {
		return err
	}
	if err := b.insertRows(ctx, "findings", findingCols, (n+19)/20, finding); err != nil {
		return err
	}
	return b.exec(ctx, "ANALYZE")
}

func (b *Bench) exec(ctx context.Context, query string) error {
	if _, err := b.raw.ExecContext(ctx, query); err != nil {
		return fmt.Errorf("seed: %s: %w", query, err)
	}
	return nil
}

// insertRows inserts n rows row(0) … row(n-1) into table on SQLite with
// multi-row INSERTs in one transaction, each within SQLite's limit of
// 32766 variables.
func (b *Bench) insertRows(ctx context.Context, table, columns string, n int, row func(int) []any) error {
	ncol := len(strings.Split(columns, ","))
	perStmt := 32766 / ncol
	mark := "(" + strings.Repeat("?,", ncol-1) + "?)"
	tx, err := b.raw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seed %s: %w", table, err)
	}
	defer tx.Rollback()
	args := make([]any, 0, perStmt*ncol)
	for i := range n {
		args = append(args, row(i)...)
		if len(args) == perStmt*ncol || i == n-1 {
			stmt := "INSERT INTO " + table + " (" + columns + ") VALUES " + strings.Repeat(mark+",", len(args)/ncol-1) + mark
			if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
				return fmt.Errorf("seed %s: %w", table, err)
			}
			args = args[:0]
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed %s: %w", table, err)
	}
	return nil
}

// copyRows is insertRows on PostgreSQL, with COPY. An identity column
// accepts the given ids (COPY does not check GENERATED ALWAYS), so the
// caller moves its sequence past them.
func (b *Bench) copyRows(ctx context.Context, table, columns string, n int, row func(int) []any) error {
	conn, err := b.raw.Conn(ctx)
	if err != nil {
		return fmt.Errorf("seed %s: %w", table, err)
	}
	defer conn.Close()
	cols := strings.Split(strings.ReplaceAll(columns, " ", ""), ",")
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		i := 0
		_, err := pc.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			r := row(i)
			i++
			return r, nil
		}))
		return err
	})
	if err != nil {
		return fmt.Errorf("seed %s: %w", table, err)
	}
	return nil
}
