package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
)

// postgresMaxConns bounds the pool: enough for a 2-core server's handlers and
// background work without crowding the server's max_connections.
const postgresMaxConns = 16

// auditLockKey is the pg_advisory_xact_lock key that serialises audit
// appends across every connection and every server process. Any constant
// works; this one spells "nxaudit" in ASCII.
const auditLockKey int64 = 0x6e78617564697400

// migrateLockKey serialises migrations when several servers start at once.
const migrateLockKey int64 = 0x6e786d6967726174

// OpenPostgres opens a pool on the PostgreSQL database at url (pgx stdlib).
// Runtime parameters such as search_path may be given in the URL query.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*DB, error) {
	pool, err := sql.Open("pgx", url)
	if err != nil {
		// pgx error texts may quote the URL; say only what went wrong in general.
		return nil, fmt.Errorf("open postgres: invalid DATABASE_URL: %w", err)
	}
	pool.SetMaxOpenConns(postgresMaxConns)
	pool.SetMaxIdleConns(postgresMaxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := &DB{
		queries: queries{q: pool, dialect: postgresDialect},
		dialect: postgresDialect,
		writer:  pool,
		reader:  pool,
		log:     orDiscard(log),
	}
	db.log.InfoContext(ctx, "store: opened postgres")
	return db, nil
}
