package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// postgresMaxConns bounds the pool: enough for a 2-core server's handlers and
// background work without crowding the server's max_connections.
const postgresMaxConns = 16

// postgresConnectTimeout bounds dialling and the startup exchange, so a
// server behind a black hole fails a request instead of hanging it.
const postgresConnectTimeout = 5 * time.Second

// postgresStatementTimeout is the server-side limit of one statement: far
// above any query this program runs, short of a request hung on a lock.
const postgresStatementTimeout = 60 * time.Second

// auditLockKey is the pg_advisory_xact_lock key that serialises audit
// appends across every connection and every server process. Any constant
// works; this one spells "nxaudit" in ASCII.
const auditLockKey int64 = 0x6e78617564697400

// migrateLockKey serialises migrations when several servers start at once.
const migrateLockKey int64 = 0x6e786d6967726174

// OpenPostgres opens a pool on the PostgreSQL database at url (pgx stdlib).
// Runtime parameters such as search_path may be given in the URL query.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx error texts may quote the URL; say only what went wrong in general.
		return nil, errors.New("open postgres: invalid DATABASE_URL")
	}
	// Every database call gets a deadline even when the caller's context
	// has none: connecting (a server that accepts and never answers) and
	// each statement. Values in the URL win.
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["statement_timeout"]; !ok {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(postgresStatementTimeout.Milliseconds(), 10)
	}
	pool := stdlib.OpenDB(*cfg)
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
		url:     url,
	}
	db.log.InfoContext(ctx, "store: opened postgres")
	return db, nil
}

// queueChannel is the NOTIFY channel on which a transaction that queued an
// execution tells every server's engine.
const queueChannel = "nexplane_queue"

// Wake returns a channel that receives when any server queued an execution
// (PostgreSQL LISTEN on a dedicated connection, outside the pool so it never
// holds a pooled connection). On SQLite it returns nil: only this process
// writes, and it notifies its engine directly. A lost connection is
// re-established after a pause; the engine's poll covers the gap.
func (db *DB) Wake(ctx context.Context) <-chan struct{} {
	if db.dialect != postgresDialect {
		return nil
	}
	ch := make(chan struct{}, 1)
	go func() {
		const retry = 2 * time.Second
		for {
			err := db.listen(ctx, ch)
			if ctx.Err() != nil {
				return
			}
			db.log.Warn("store: queue notifications lost; polling until they come back", "err", err)
			t := time.NewTimer(retry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return ch
}

func (db *DB) listen(ctx context.Context, ch chan<- struct{}) error {
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		// Bounded, so a database that went silent cannot hold the retry.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+queueChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Work queued while the connection was down is found by this wake-up.
	signal(ch)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		signal(ch)
	}
}

func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
