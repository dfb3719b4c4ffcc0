package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/store/internal/pgtest"
)

// A PostgreSQL server that refuses connections or never answers makes
// every store call fail with EUNAVAILABLE within the connect deadline,
// reads, transactions and Ping alike, and the store recovers when the
// server is back.
func TestPostgresUnreachableIsUnavailable(t *testing.T) {
	base := os.Getenv(pgtest.EnvURL)
	if base == "" {
		if os.Getenv(pgtest.EnvRequireIntegration) == "1" {
			t.Fatalf("%s not set and %s=1", pgtest.EnvURL, pgtest.EnvRequireIntegration)
		}
		t.Skipf("SKIP: %s not set", pgtest.EnvURL)
	}
	schemaURL, drop, err := pgtest.NewSchema(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	proxy := pgtest.NewProxy(t, schemaURL)
	u, _ := url.Parse(proxy.URL(schemaURL))
	q := u.Query()
	q.Set("connect_timeout", "1") // the URL's value wins over the default
	u.RawQuery = q.Encode()
	db, err := OpenPostgres(t.Context(), u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}

	calls := map[string]func(ctx context.Context) error{
		"read": func(ctx context.Context) error { _, err := db.Setting(ctx, "probe"); return err },
		"transaction": func(ctx context.Context) error {
			return db.WithTx(ctx, func(tx app.Tx) error { return tx.PutSetting(ctx, "probe", []byte("x")) })
		},
		"ping": db.Ping,
	}
	for _, mode := range []struct {
		name string
		m    pgtest.ProxyMode
	}{{"refuse", pgtest.Refuse}, {"blackhole", pgtest.Blackhole}} {
		t.Run(mode.name, func(t *testing.T) {
			proxy.Set(mode.m)
			for name, call := range calls {
				start := time.Now()
				// The caller's context has no deadline: the store's own must end the call.
				err := call(context.Background())
				if took := time.Since(start); took > 15*time.Second {
					t.Errorf("%s took %v", name, took)
				}
				if app.ErrCode(err) != app.EUNAVAILABLE {
					t.Errorf("%s = %v, want unavailable", name, err)
				} else if msg := app.ErrMessage(err); strings.Contains(msg, "127.0.0.1") {
					t.Errorf("%s: message names internals: %q", name, msg)
				}
			}
			proxy.Set(pgtest.Forward)
			if _, err := db.Setting(t.Context(), "probe"); err != nil && app.ErrCode(err) != app.ENOTFOUND {
				t.Fatalf("after recovery: %v", err)
			}
		})
	}
}

// The error mapping recognises disk full and unreachable databases from
// errors the drivers really return, and leaves others alone.
func TestUnavailableOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), msgDatabaseUnavailable},
		{"cancelled by the caller", context.Canceled, ""},
		{"plain", errors.New("syntax error"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg, _ := unavailableOf(tc.err); msg != tc.want {
				t.Errorf("unavailableOf(%v) = %q, want %q", tc.err, msg, tc.want)
			}
		})
	}
}

// An SQLite database whose disk fills up answers storage full, not an
// internal error; the write that did not fit leaves nothing half-written
// and everything committed before stays readable. Ping (readiness) says
// storage full too.
func TestSQLiteDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv(pgtest.EnvRequireIntegration) == "1" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("SKIP: cannot mount a small tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	db, err := OpenSQLite(t.Context(), filepath.Join(dir, SQLiteFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(t.Context()); err != nil {
		db.Close()
		t.Skipf("SKIP: the tmpfs is too small for the schema: %v", err)
	}
	defer db.Close()

	ctx := t.Context()
	value := []byte(strings.Repeat("x", 64<<10))
	written := 0
	var full error
	for i := range 1000 {
		err := db.WithTx(ctx, func(tx app.Tx) error {
			// Two rows per transaction: either both land or neither.
			if err := tx.PutSetting(ctx, fmt.Sprintf("a%d", i), value); err != nil {
				return err
			}
			return tx.PutSetting(ctx, fmt.Sprintf("b%d", i), value)
		})
		if err != nil {
			full = err
			break
		}
		written++
	}
	if full == nil {
		t.Fatal("the disk never filled")
	}
	if app.ErrCode(full) != app.EUNAVAILABLE || !strings.Contains(app.ErrMessage(full), "storage full") {
		t.Fatalf("write on a full disk = %v (%s), want unavailable: storage full", full, app.ErrMessage(full))
	}
	if err := db.Ping(ctx); app.ErrCode(err) != app.EUNAVAILABLE || !strings.Contains(app.ErrMessage(err), "storage full") {
		t.Errorf("Ping on a full disk = %v, want storage full", err)
	}
	for i := range written {
		for _, k := range []string{"a", "b"} {
			if v, err := db.Setting(ctx, fmt.Sprintf("%s%d", k, i)); err != nil || len(v) != len(value) {
				t.Fatalf("committed %s%d: %d bytes, %v", k, i, len(v), err)
			}
		}
	}
	for _, k := range []string{"a", "b"} {
		if _, err := db.Setting(ctx, fmt.Sprintf("%s%d", k, written)); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("half of the failed transaction is there: %s%d: %v", k, written, err)
		}
	}
	var verdict string
	if err := db.reader.QueryRowContext(ctx, "PRAGMA integrity_check(1)").Scan(&verdict); err != nil || verdict != "ok" {
		t.Errorf("integrity_check = %q, %v", verdict, err)
	}
}
