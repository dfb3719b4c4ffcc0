package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

func TestOpenRejectsUnknownScheme(t *testing.T) {
	for _, u := range []string{"mysql://x@y/z", "sqlite:///tmp/x.db", "postgres:/nope"} {
		_, err := Open(t.Context(), u, t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), "unsupported DATABASE_URL scheme") {
			t.Errorf("Open(%q) = %v, want unsupported scheme error", u, err)
		}
	}
	if _, err := Open(t.Context(), "", "", nil); err == nil {
		t.Error("Open with no URL and no data dir succeeded")
	}
}

func TestOpenDefaultsToSQLiteInDataDir(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(t.Context(), "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Driver() != DriverSQLite {
		t.Errorf("Driver() = %q", db.Driver())
	}
	if _, err := os.Stat(filepath.Join(dir, "nexplane.db")); err != nil {
		t.Errorf("database file: %v", err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestSQLitePragmas(t *testing.T) {
	db := mustOpenSQLite(t)
	ctx := t.Context()
	for _, pool := range []struct {
		name      string
		queryOnly int
		q         querier
	}{{"writer", 0, db.writer}, {"reader", 1, db.reader}} {
		for _, c := range []struct {
			pragma string
			want   string
		}{
			{"journal_mode", "wal"},
			{"synchronous", "2"}, // FULL
			{"foreign_keys", "1"},
			{"busy_timeout", "10000"},
			{"query_only", fmt.Sprint(pool.queryOnly)},
		} {
			var got string
			if err := pool.q.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
				t.Fatalf("%s PRAGMA %s: %v", pool.name, c.pragma, err)
			}
			if got != c.want {
				t.Errorf("%s PRAGMA %s = %q, want %q", pool.name, c.pragma, got, c.want)
			}
		}
	}
	// The read pool must refuse writes.
	if _, err := db.reader.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES ('k', x'00', 0)"); err == nil {
		t.Error("write through the read pool succeeded")
	}
}

func TestRebind(t *testing.T) {
	cases := []struct{ in, sqlite, pg string }{
		{"SELECT 1", "SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = ? AND b = ?", "a = $1 AND b = $2"},
		{"VALUES (?, ?, ?)", "VALUES (?, ?, ?)", "VALUES ($1, $2, $3)"},
	}
	for _, c := range cases {
		if got := sqliteDialect.rebind(c.in); got != c.sqlite {
			t.Errorf("sqlite rebind(%q) = %q", c.in, got)
		}
		if got := postgresDialect.rebind(c.in); got != c.pg {
			t.Errorf("postgres rebind(%q) = %q", c.in, got)
		}
	}
}

func TestTxRollbackLeavesNothing(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		work := func(tx app.Tx) error {
			u := newUser("ghost@example.com", app.RoleAdmin)
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			// Reads inside the transaction see its own writes.
			if _, err := tx.UserByID(ctx, u.ID); err != nil {
				return err
			}
			e, _ := app.NewAuditEvent(t0, app.SystemActor("test"), "user.created", "user", fmt.Sprint(u.ID), nil)
			return tx.AppendAudit(ctx, e)
		}
		if err := db.WithTx(ctx, func(tx app.Tx) error {
			if err := work(tx); err != nil {
				return err
			}
			return errRollback
		}); !errors.Is(err, errRollback) {
			t.Fatalf("WithTx = %v, want the fn's error", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic was swallowed")
				}
			}()
			db.WithTx(ctx, func(tx app.Tx) error {
				if err := work(tx); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		_, err := db.UserByEmail(ctx, "ghost@example.com")
		wantCode(t, err, app.ENOTFOUND)
		if got, err := db.ListAudit(ctx, app.AuditFilter{}); err != nil || len(got) != 0 {
			t.Errorf("audit after rollbacks = %v, %v", got, err)
		}
		// The chain restarts at id 1: rolled-back appends leave no gap.
		appendN(t, db, 1)
		if n := verifyChain(t, db); n != 1 {
			t.Errorf("chain length %d, want 1", n)
		}
	})
}

func TestMapErrKeepsContext(t *testing.T) {
	err := mapErr("create user", "", context.Canceled)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "create user: ") {
		t.Errorf("mapErr = %v", err)
	}
	if app.ErrMessage(err) != "An internal error occurred." {
		t.Errorf("internal error leaks: %q", app.ErrMessage(err))
	}
}
