package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/nexplane/nexplane/app"
)

// This file seeds large audit logs for benchmarks (here and in app/api).
// It is exported for benchmarks only; nothing in the server calls it.

// BenchDefaultRows is the audit log size of the list benchmarks unless
// NEXPLANE_BENCH_AUDIT_ROWS says otherwise.
const BenchDefaultRows = 1_000_000

// BenchResourceTypes cycle through the seeded records.
var BenchResourceTypes = []string{"user", "change_request", "connector", "agent"}

// BenchBase is the time of seeded record 1; records are one second apart.
var BenchBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var benchBaseMS = BenchBase.UnixMilli()

// benchEvent is seeded record i (0-based): each (resource_type, resource_id)
// pair recurs every 4,000 records, so a resource has rows/4000 records.
func benchEvent(i int) *app.AuditEvent {
	actor := i % 50
	return &app.AuditEvent{
		ID:           int64(i + 1),
		At:           time.UnixMilli(benchBaseMS + int64(i)*1000).UTC(),
		ActorType:    app.ActorUser,
		ActorID:      strconv.Itoa(actor),
		ActorEmail:   "user" + strconv.Itoa(actor) + "@example.com",
		Event:        "bench.event" + strconv.Itoa(i%10),
		ResourceType: BenchResourceTypes[i%4],
		ResourceID:   strconv.Itoa((i / 4) % 1000),
		Payload:      []byte(`{"i":` + strconv.Itoa(i) + `}`),
	}
}

// SeedAuditForBench appends n records forming a valid chain to an empty
// audit log, much faster than AppendAudit: multi-row INSERTs in large
// transactions on SQLite, COPY on PostgreSQL.
func SeedAuditForBench(ctx context.Context, db *DB, n int) error {
	prev := app.GenesisHash
	next := func(i int) ([]any, error) {
		e := benchEvent(i)
		e.PrevHash = prev
		h, err := e.ComputeHash()
		if err != nil {
			return nil, err
		}
		prev = h
		return []any{e.ID, e.At.UnixMilli(), string(e.ActorType), e.ActorID, e.ActorEmail, e.Event,
			e.ResourceType, e.ResourceID, string(e.Payload), e.PrevHash, h}, nil
	}
	if db.dialect == postgresDialect {
		return seedPostgres(ctx, db, n, next)
	}
	return seedSQLite(ctx, db, n, next)
}

func seedSQLite(ctx context.Context, db *DB, n int, next func(int) ([]any, error)) error {
	const perStmt, perTx = 500, 100_000 // 500 rows × 11 columns stays under SQLite's 32766 variables
	row := "(?,?,?,?,?,?,?,?,?,?,?)"
	full := "INSERT INTO audit_log (" + auditColumns + ") VALUES " + strings.Repeat(row+",", perStmt-1) + row
	for start := 0; start < n; start += perTx {
		end := min(start+perTx, n)
		err := db.WithTx(ctx, func(atx app.Tx) error {
			q := atx.(*tx).q
			args := make([]any, 0, perStmt*11)
			for i := start; i < end; i++ {
				r, err := next(i)
				if err != nil {
					return err
				}
				args = append(args, r...)
				if len(args) == perStmt*11 || i == end-1 {
					stmt := full
					if len(args) != perStmt*11 {
						stmt = "INSERT INTO audit_log (" + auditColumns + ") VALUES " + strings.Repeat(row+",", len(args)/11-1) + row
					}
					if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
						return err
					}
					args = args[:0]
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed sqlite: %w", err)
		}
	}
	_, err := db.writer.ExecContext(ctx, "ANALYZE")
	return err
}

func seedPostgres(ctx context.Context, db *DB, n int, next func(int) ([]any, error)) error {
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	cols := strings.Split(strings.ReplaceAll(auditColumns, " ", ""), ",")
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		i := 0
		_, err := pc.CopyFrom(ctx, pgx.Identifier{"audit_log"}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			r, err := next(i)
			i++
			return r, err
		}))
		return err
	})
	if err != nil {
		return fmt.Errorf("seed postgres: %w", err)
	}
	// Fresh statistics, as autovacuum would have after a while, so the
	// planner sees the table as it is.
	_, err = conn.ExecContext(ctx, "VACUUM ANALYZE audit_log")
	return err
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

// SeedAssetsForBench creates four connectors (aws-0, ldap-1, …) and n assets
// spread over them, with kinds, ARNs, access key ids and DNs as real syncs
// store them; one asset in ten is gone and one in twenty has an open
// finding. Multi-row INSERTs on SQLite, COPY on PostgreSQL, like
// SeedAuditForBench. The store must hold no connectors yet.
func SeedAssetsForBench(ctx context.Context, db *DB, n int) error {
	var conns []int64
	err := db.WithTx(ctx, func(tx app.Tx) error {
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
	seen := benchBaseMS
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
	if db.dialect == postgresDialect {
		if err := copyRows(ctx, db, "assets", assetCols, n, asset); err != nil {
			return err
		}
		if err := copyRows(ctx, db, "findings", findingCols, (n+19)/20, finding); err != nil {
			return err
		}
		_, err := db.writer.ExecContext(ctx, "VACUUM ANALYZE assets")
		if err == nil {
			_, err = db.writer.ExecContext(ctx, "VACUUM ANALYZE findings")
		}
		return err
	}
	if err := insertRows(ctx, db, "assets", assetCols, n, asset); err != nil {
		return err
	}
	if err := insertRows(ctx, db, "findings", findingCols, (n+19)/20, finding); err != nil {
		return err
	}
	_, err = db.writer.ExecContext(ctx, "ANALYZE")
	return err
}

// insertRows inserts n rows row(0) … row(n-1) into table on SQLite with
// multi-row INSERTs in one transaction.
func insertRows(ctx context.Context, db *DB, table, columns string, n int, row func(int) []any) error {
	ncol := len(strings.Split(columns, ","))
	perStmt := 32766 / ncol
	mark := "(" + strings.Repeat("?,", ncol-1) + "?)"
	return db.WithTx(ctx, func(atx app.Tx) error {
		q := atx.(*tx).q
		args := make([]any, 0, perStmt*ncol)
		for i := range n {
			args = append(args, row(i)...)
			if len(args) == perStmt*ncol || i == n-1 {
				stmt := "INSERT INTO " + table + " (" + columns + ") VALUES " + strings.Repeat(mark+",", len(args)/ncol-1) + mark
				if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
					return fmt.Errorf("seed %s: %w", table, err)
				}
				args = args[:0]
			}
		}
		return nil
	})
}

// copyRows is insertRows on PostgreSQL, with COPY. The identity column
// accepts the given ids (COPY does not check GENERATED ALWAYS); the
// sequence is moved past them.
func copyRows(ctx context.Context, db *DB, table, columns string, n int, row func(int) []any) error {
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return err
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
	_, err = conn.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('"+table+"', 'id'), (SELECT max(id) FROM "+table+"))")
	if err != nil {
		return fmt.Errorf("seed %s: sequence: %w", table, err)
	}
	return nil
}
