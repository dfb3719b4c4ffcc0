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
