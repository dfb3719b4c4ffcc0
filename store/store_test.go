package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

var errRollback = errors.New("roll back please")

// t0 is a fixed, millisecond-exact instant: what goes in must come out.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustTx(t *testing.T, db *DB, fn func(tx app.Tx) error) {
	t.Helper()
	if err := db.WithTx(t.Context(), fn); err != nil {
		t.Fatalf("WithTx: %v", err)
	}
}

func wantCode(t *testing.T, err error, code app.ErrorCode) {
	t.Helper()
	if got := app.ErrCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func newUser(email string, role app.Role) *app.User {
	return &app.User{Email: email, PasswordHash: []byte("$2a$12$hash-" + email), Role: role,
		SessionVersion: 1, CreatedAt: t0, UpdatedAt: t0}
}

func mustCreateUser(t *testing.T, db *DB, u *app.User) *app.User {
	t.Helper()
	mustTx(t, db, func(tx app.Tx) error { return tx.CreateUser(t.Context(), u) })
	return u
}

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

func TestMigrations(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		applied, latest, err := db.SchemaVersion(ctx)
		if err != nil || applied != latest || latest < 1 {
			t.Fatalf("SchemaVersion = %d, %d, %v", applied, latest, err)
		}
		n, err := db.Migrate(ctx)
		if err != nil || n != 0 {
			t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
		}
		// A newer binary has been here: this one must refuse to run.
		if _, err := db.execRaw(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", latest+1, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Migrate(ctx); !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", latest+1)) {
			t.Errorf("Migrate on newer schema = %v, want ErrSchemaTooNew naming the version", err)
		}
		if _, _, err := db.SchemaVersion(ctx); !errors.Is(err, ErrSchemaTooNew) {
			t.Errorf("SchemaVersion on newer schema = %v, want ErrSchemaTooNew", err)
		}
	})
}

// A migration that fails half way leaves nothing of itself behind: the
// schema, its version and the data are those from before it.
func TestFailedMigrationLeavesTheOldSchema(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		alice := mustCreateUser(t, db, newUser("alice@example.com", app.RoleAdmin))
		ms, err := db.dialect.migrations()
		if err != nil {
			t.Fatal(err)
		}
		broken := migration{version: len(ms) + 1, name: fmt.Sprintf("%04d_broken.sql", len(ms)+1), sql: `
CREATE TABLE half_done (x INTEGER);
ALTER TABLE users ADD COLUMN half INTEGER;
INSERT INTO no_such_table VALUES (1);
`}
		n, err := db.migrate(ctx, append(ms, broken))
		if n != 0 || err == nil || !strings.Contains(err.Error(), broken.name) {
			t.Fatalf("migrate with a broken migration = %d, %v; want 0 and an error naming %s", n, err, broken.name)
		}
		if applied, latest, err := db.SchemaVersion(ctx); err != nil || applied != len(ms) || latest != len(ms) {
			t.Errorf("SchemaVersion after the failure = %d, %d, %v; want %d", applied, latest, err, len(ms))
		}
		for _, q := range []string{"SELECT count(*) FROM half_done", "SELECT half FROM users"} {
			if _, err := db.execRaw(ctx, q); err == nil {
				t.Errorf("%s: the failed migration left this behind", q)
			}
		}
		if got, err := db.UserByID(ctx, alice.ID); err != nil || got.Email != alice.Email {
			t.Errorf("user after the failed migration = %+v, %v", got, err)
		}
		// The database still takes writes and the real migrations again.
		mustCreateUser(t, db, newUser("bob@example.com", app.RoleViewer))
		if n, err := db.Migrate(ctx); err != nil || n != 0 {
			t.Errorf("Migrate after the failure = %d, %v", n, err)
		}
	})
}

func TestSchemaVersionOfEmptyDatabase(t *testing.T) {
	db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "x.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	applied, latest, err := db.SchemaVersion(t.Context())
	if err != nil || applied != 0 || latest < 1 {
		t.Fatalf("SchemaVersion = %d, %d, %v; want 0, >=1, nil", applied, latest, err)
	}
	n, err := db.Migrate(t.Context())
	if err != nil || n != latest {
		t.Fatalf("Migrate = %d, %v; want %d", n, err, latest)
	}
}

func TestUsers(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		alice := mustCreateUser(t, db, newUser("alice@example.com", app.RoleAdmin))
		bob := mustCreateUser(t, db, newUser("bob@example.com", app.RoleViewer))
		if alice.ID == 0 || bob.ID == alice.ID {
			t.Fatalf("ids: alice %d, bob %d", alice.ID, bob.ID)
		}

		got, err := db.UserByID(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != alice.Email || string(got.PasswordHash) != string(alice.PasswordHash) || got.Role != app.RoleAdmin ||
			got.Disabled || got.SessionVersion != 1 || !got.CreatedAt.Equal(t0) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("UserByID = %+v", got)
		}
		if got, err := db.UserByEmail(ctx, "bob@example.com"); err != nil || got.ID != bob.ID {
			t.Errorf("UserByEmail = %+v, %v", got, err)
		}

		// Update every mutable field and read it back.
		bob.Email, bob.Role, bob.Disabled, bob.SessionVersion = "robert@example.com", app.RoleOperator, true, 2
		bob.PasswordHash, bob.UpdatedAt = []byte("new-hash"), t0.Add(time.Hour)
		mustTx(t, db, func(tx app.Tx) error { return tx.UpdateUser(ctx, bob) })
		got, err = db.UserByID(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != "robert@example.com" || got.Role != app.RoleOperator || !got.Disabled || got.SessionVersion != 2 ||
			string(got.PasswordHash) != "new-hash" || !got.UpdatedAt.Equal(t0.Add(time.Hour)) || !got.CreatedAt.Equal(t0) {
			t.Errorf("after UpdateUser = %+v", got)
		}

		us, err := db.ListUsers(ctx)
		if err != nil || len(us) != 2 || us[0].Email != "alice@example.com" || us[1].Email != "robert@example.com" {
			t.Errorf("ListUsers = %+v, %v", us, err)
		}
		if n, err := db.CountUsers(ctx); err != nil || n != 2 {
			t.Errorf("CountUsers = %d, %v", n, err)
		}

		errCases := []struct {
			name string
			code app.ErrorCode
			msg  string
			run  func() error
		}{
			{"duplicate email", app.ECONFLICT, "a user with this email already exists", func() error {
				return db.WithTx(ctx, func(tx app.Tx) error { return tx.CreateUser(ctx, newUser("alice@example.com", app.RoleViewer)) })
			}},
			{"update to taken email", app.ECONFLICT, "a user with this email already exists", func() error {
				u := *bob
				u.Email = "alice@example.com"
				return db.WithTx(ctx, func(tx app.Tx) error { return tx.UpdateUser(ctx, &u) })
			}},
			{"unknown role", app.EINVALID, "", func() error {
				return db.WithTx(ctx, func(tx app.Tx) error { return tx.CreateUser(ctx, newUser("c@example.com", "root")) })
			}},
			{"by id not found", app.ENOTFOUND, "user not found", func() error { _, err := db.UserByID(ctx, 9999); return err }},
			{"by email not found", app.ENOTFOUND, "user not found", func() error { _, err := db.UserByEmail(ctx, "nobody@example.com"); return err }},
			{"update not found", app.ENOTFOUND, "user not found", func() error {
				return db.WithTx(ctx, func(tx app.Tx) error {
					return tx.UpdateUser(ctx, &app.User{ID: 9999, Email: "x@example.com", Role: app.RoleViewer, PasswordHash: []byte("h")})
				})
			}},
		}
		for _, c := range errCases {
			t.Run(c.name, func(t *testing.T) {
				err := c.run()
				wantCode(t, err, c.code)
				if c.msg != "" && app.ErrMessage(err) != c.msg {
					t.Errorf("message = %q, want %q", app.ErrMessage(err), c.msg)
				}
			})
		}
		// The driver's error stays in the chain (for logs), behind the
		// safe message.
		err = errCases[0].run()
		if _, _, ok := constraintOf(app.ErrCause(err)); !ok {
			t.Errorf("cause of %v = %v, want the driver's constraint error", err, app.ErrCause(err))
		}
	})
}

func TestCountActiveAdmins(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		for _, u := range []*app.User{
			newUser("a1@example.com", app.RoleAdmin),
			newUser("a2@example.com", app.RoleAdmin),
			{Email: "a3@example.com", PasswordHash: []byte("h"), Role: app.RoleAdmin, Disabled: true},
			newUser("op@example.com", app.RoleOperator),
		} {
			mustCreateUser(t, db, u)
		}
		if n, err := db.CountActiveAdmins(t.Context()); err != nil || n != 2 {
			t.Errorf("CountActiveAdmins = %d, %v; want 2 (a disabled admin does not count)", n, err)
		}
	})
}

func TestSessions(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u1 := mustCreateUser(t, db, newUser("s1@example.com", app.RoleViewer))
		u2 := mustCreateUser(t, db, newUser("s2@example.com", app.RoleViewer))
		now := t0.Add(24 * time.Hour)
		sessions := []*app.Session{
			{ID: "fresh", UserID: u1.ID, SessionVersion: 1, Data: []byte("flash"), CreatedAt: now.Add(-time.Hour), LastSeenAt: now.Add(-time.Minute)},
			{ID: "idle", UserID: u1.ID, SessionVersion: 1, CreatedAt: now.Add(-time.Hour), LastSeenAt: now.Add(-app.SessionIdleTimeout - time.Second)},
			{ID: "old", UserID: u2.ID, SessionVersion: 1, CreatedAt: now.Add(-app.SessionAbsoluteTimeout - time.Second), LastSeenAt: now},
			{ID: "u2", UserID: u2.ID, SessionVersion: 3, CreatedAt: now, LastSeenAt: now},
		}
		mustTx(t, db, func(tx app.Tx) error {
			for _, s := range sessions {
				if err := tx.CreateSession(ctx, s); err != nil {
					return err
				}
			}
			return nil
		})

		got, err := db.SessionByID(ctx, "fresh")
		if err != nil || got.UserID != u1.ID || string(got.Data) != "flash" || !got.LastSeenAt.Equal(now.Add(-time.Minute)) || !got.CreatedAt.Equal(now.Add(-time.Hour)) {
			t.Fatalf("SessionByID = %+v, %v", got, err)
		}

		// Touch moves last_seen_at and replaces data.
		got.LastSeenAt, got.Data = now, []byte("other")
		mustTx(t, db, func(tx app.Tx) error { return tx.TouchSession(ctx, got) })
		if s, err := db.SessionByID(ctx, "fresh"); err != nil || !s.LastSeenAt.Equal(now) || string(s.Data) != "other" {
			t.Errorf("after TouchSession = %+v, %v", s, err)
		}

		// Cleanup removes exactly the sessions app.Session.Expired calls expired.
		var n int64
		mustTx(t, db, func(tx app.Tx) error { var err error; n, err = tx.DeleteExpiredSessions(ctx, now); return err })
		if n != 2 {
			t.Errorf("DeleteExpiredSessions = %d, want 2", n)
		}
		for _, s := range sessions {
			_, err := db.SessionByID(ctx, s.ID)
			if expired := s.Expired(now); expired != (app.ErrCode(err) == app.ENOTFOUND) {
				t.Errorf("session %s: expired=%v but lookup error = %v", s.ID, expired, err)
			}
		}

		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteUserSessions(ctx, u2.ID) })
		_, err = db.SessionByID(ctx, "u2")
		wantCode(t, err, app.ENOTFOUND)

		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteSession(ctx, "fresh") })
		_, err = db.SessionByID(ctx, "fresh")
		wantCode(t, err, app.ENOTFOUND)
		// Deleting again is not an error (double logout).
		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteSession(ctx, "fresh") })

		errCases := []struct {
			name string
			code app.ErrorCode
			run  func(tx app.Tx) error
		}{
			{"touch missing", app.ENOTFOUND, func(tx app.Tx) error {
				return tx.TouchSession(ctx, &app.Session{ID: "gone", LastSeenAt: now})
			}},
			{"unknown user", app.ENOTFOUND, func(tx app.Tx) error {
				return tx.CreateSession(ctx, &app.Session{ID: "x", UserID: 9999, SessionVersion: 1, CreatedAt: now, LastSeenAt: now})
			}},
			{"duplicate id", app.ECONFLICT, func(tx app.Tx) error {
				s := &app.Session{ID: "dup", UserID: u1.ID, SessionVersion: 1, CreatedAt: now, LastSeenAt: now}
				if err := tx.CreateSession(ctx, s); err != nil {
					return err
				}
				return tx.CreateSession(ctx, s)
			}},
		}
		for _, c := range errCases {
			t.Run(c.name, func(t *testing.T) { wantCode(t, db.WithTx(ctx, c.run), c.code) })
		}
	})
}

func TestSettings(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		_, err := db.Setting(ctx, "jwt.key")
		wantCode(t, err, app.ENOTFOUND)
		for _, v := range []string{"first", "second\x00binary"} {
			mustTx(t, db, func(tx app.Tx) error { return tx.PutSetting(ctx, "jwt.key", []byte(v)) })
			if got, err := db.Setting(ctx, "jwt.key"); err != nil || string(got) != v {
				t.Errorf("Setting = %q, %v; want %q", got, err, v)
			}
		}
	})
}

// appendN appends n events, one transaction each, cycling through a few
// resources, actors and events so that filters have something to select.
func appendN(t *testing.T, db *DB, n int) []app.AuditEvent {
	t.Helper()
	var out []app.AuditEvent
	for i := range n {
		actor := app.Actor{Type: app.ActorUser, ID: fmt.Sprint(i % 3), Email: fmt.Sprintf("u%d@example.com", i%3)}
		e, err := app.NewAuditEvent(t0.Add(time.Duration(i)*time.Minute), actor,
			[]string{"user.created", "user.role_changed", "change.approved"}[i%3],
			[]string{"user", "change_request"}[i%2], fmt.Sprint(i%4),
			map[string]any{"i": i, "note": "  spaced  "})
		if err != nil {
			t.Fatal(err)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.AppendAudit(t.Context(), e) })
		out = append(out, *e)
	}
	return out
}

// verifyChain walks the whole log and checks ids 1..n, the links and every hash.
func verifyChain(t *testing.T, db *DB) int {
	t.Helper()
	prevID, prevHash := int64(0), app.GenesisHash
	err := db.WalkAudit(t.Context(), time.Time{}, time.Time{}, func(e *app.AuditEvent) error {
		if e.ID != prevID+1 {
			return fmt.Errorf("id %d follows %d", e.ID, prevID)
		}
		if e.PrevHash != prevHash {
			return fmt.Errorf("record %d: prev_hash %s, want %s", e.ID, e.PrevHash, prevHash)
		}
		h, err := e.ComputeHash()
		if err != nil {
			return err
		}
		if h != e.Hash {
			return fmt.Errorf("record %d: hash %s, recomputed %s", e.ID, e.Hash, h)
		}
		prevID, prevHash = e.ID, e.Hash
		return nil
	})
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	return int(prevID)
}

func TestAuditAppendChain(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		appended := appendN(t, db, 10)
		if n := verifyChain(t, db); n != 10 {
			t.Fatalf("chain length %d, want 10", n)
		}
		for i, e := range appended {
			got, err := db.AuditByID(ctx, int64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			// What AppendAudit filled in is exactly what was stored.
			if got.ID != e.ID || got.Hash != e.Hash || got.PrevHash != e.PrevHash || !got.At.Equal(e.At) ||
				string(got.Payload) != string(e.Payload) || got.ActorEmail != e.ActorEmail {
				t.Errorf("record %d: stored %+v, appended %+v", i+1, got, e)
			}
		}
		_, err := db.AuditByID(ctx, 11)
		wantCode(t, err, app.ENOTFOUND)

		// Payloads are stored compact; invalid JSON is refused.
		e := &app.AuditEvent{At: t0, ActorType: app.ActorSystem, ActorID: "test", Event: "x.y",
			Payload: json.RawMessage("{ \"a\" : [1, 2] }")}
		mustTx(t, db, func(tx app.Tx) error { return tx.AppendAudit(ctx, e) })
		if got, _ := db.AuditByID(ctx, e.ID); string(got.Payload) != `{"a":[1,2]}` {
			t.Errorf("payload stored as %s", got.Payload)
		}
		bad := &app.AuditEvent{At: t0, ActorType: app.ActorSystem, Event: "x.y", Payload: json.RawMessage("{nope")}
		wantCode(t, db.WithTx(ctx, func(tx app.Tx) error { return tx.AppendAudit(ctx, bad) }), app.EINVALID)
		verifyChain(t, db)
	})
}

func TestAuditIsAppendOnly(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		appendN(t, db, 3)
		stmts := []string{
			"UPDATE audit_log SET payload = '{}' WHERE id = 2",
			"UPDATE audit_log SET hash = 'x'",
			"DELETE FROM audit_log WHERE id = 3",
			"DELETE FROM audit_log",
		}
		if db.Driver() == DriverPostgres {
			stmts = append(stmts, "TRUNCATE audit_log")
		}
		for _, s := range stmts {
			if _, err := db.execRaw(t.Context(), s); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want the append-only refusal", s, err)
			}
		}
		if n := verifyChain(t, db); n != 3 {
			t.Errorf("chain length %d after refused changes, want 3", n)
		}
	})
}

func TestListAudit(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		all := appendN(t, db, 60)
		match := func(f app.AuditFilter) []int64 {
			var ids []int64
			for _, e := range slices.Backward(all) {
				if (!f.From.IsZero() && e.At.Before(f.From)) || (!f.To.IsZero() && !e.At.Before(f.To)) ||
					(f.ResourceType != "" && e.ResourceType != f.ResourceType) || (f.ResourceID != "" && e.ResourceID != f.ResourceID) ||
					(f.Actor != "" && e.ActorID != f.Actor && e.ActorEmail != f.Actor) || (f.Event != "" && e.Event != f.Event) ||
					(f.BeforeID > 0 && e.ID >= f.BeforeID) {
					continue
				}
				ids = append(ids, e.ID)
			}
			return ids
		}
		cases := []struct {
			name string
			f    app.AuditFilter
		}{
			{"all", app.AuditFilter{Limit: 100}},
			{"from inclusive", app.AuditFilter{From: t0.Add(10 * time.Minute), Limit: 100}},
			{"to exclusive", app.AuditFilter{To: t0.Add(10 * time.Minute), Limit: 100}},
			{"window", app.AuditFilter{From: t0.Add(5 * time.Minute), To: t0.Add(25 * time.Minute), Limit: 100}},
			{"resource", app.AuditFilter{ResourceType: "user", ResourceID: "2", Limit: 100}},
			{"resource type", app.AuditFilter{ResourceType: "change_request", Limit: 100}},
			{"actor by id", app.AuditFilter{Actor: "1", Limit: 100}},
			{"actor by email", app.AuditFilter{Actor: "u2@example.com", Limit: 100}},
			{"event", app.AuditFilter{Event: "change.approved", Limit: 100}},
			{"combined", app.AuditFilter{Event: "user.created", ResourceType: "user", From: t0.Add(3 * time.Minute), Limit: 100}},
			{"before id", app.AuditFilter{BeforeID: 31, Limit: 100}},
			{"default limit", app.AuditFilter{}},
			{"nothing", app.AuditFilter{Event: "no.such", Limit: 100}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := db.ListAudit(ctx, c.f)
				if err != nil {
					t.Fatal(err)
				}
				want := match(c.f)
				limit := c.f.Limit
				if limit <= 0 {
					limit = app.DefaultAuditLimit
				}
				if len(want) > limit {
					want = want[:limit]
				}
				var ids []int64
				for _, e := range got {
					ids = append(ids, e.ID)
				}
				if !slices.Equal(ids, want) {
					t.Errorf("ids = %v\nwant %v", ids, want)
				}
			})
		}

		// Keyset pages of 7 neither overlap nor miss a record.
		for _, f := range []app.AuditFilter{{}, {ResourceType: "user"}, {Actor: "u0@example.com"}} {
			f.Limit = 7
			var seen []int64
			for {
				page, err := db.ListAudit(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					seen = append(seen, e.ID)
				}
				if len(page) < f.Limit {
					break
				}
				f.BeforeID = page[len(page)-1].ID
			}
			f.BeforeID, f.Limit = 0, 0
			if want := match(f); !slices.Equal(seen, want) {
				t.Errorf("paging %+v: got %v, want %v", f, seen, want)
			}
		}
	})
}

func TestListAuditClampsLimit(t *testing.T) {
	db := mustOpenSQLite(t)
	// Bulk-insert past the maximum page through one transaction.
	mustTx(t, db, func(tx app.Tx) error {
		for i := range app.MaxAuditLimit + 5 {
			e := &app.AuditEvent{At: t0, ActorType: app.ActorSystem, ActorID: "t", Event: "e.v", ResourceID: fmt.Sprint(i)}
			if err := tx.AppendAudit(t.Context(), e); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := db.ListAudit(t.Context(), app.AuditFilter{Limit: 10_000})
	if err != nil || len(got) != app.MaxAuditLimit {
		t.Errorf("ListAudit(limit 10000) = %d records, %v; want %d", len(got), err, app.MaxAuditLimit)
	}
}

func TestWalkAudit(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		appendN(t, db, 20) // at = t0 + i minutes, ids i+1
		cases := []struct {
			name     string
			from, to time.Time
			want     []int64
		}{
			{"all", time.Time{}, time.Time{}, seq(1, 20)},
			{"from", t0.Add(15 * time.Minute), time.Time{}, seq(16, 20)},
			{"to", time.Time{}, t0.Add(3 * time.Minute), seq(1, 3)},
			{"window", t0.Add(5 * time.Minute), t0.Add(8 * time.Minute), seq(6, 8)},
			{"empty", t0.Add(time.Hour), time.Time{}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var ids []int64
				err := db.WalkAudit(ctx, c.from, c.to, func(e *app.AuditEvent) error { ids = append(ids, e.ID); return nil })
				if err != nil || !slices.Equal(ids, c.want) {
					t.Errorf("WalkAudit = %v, %v; want %v", ids, err, c.want)
				}
			})
		}
		stop := errors.New("stop")
		calls := 0
		err := db.WalkAudit(ctx, time.Time{}, time.Time{}, func(*app.AuditEvent) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("WalkAudit with failing fn = %v after %d calls", err, calls)
		}
	})
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
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

func TestConcurrentAppend(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		const workers, each = 8, 25
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					e, _ := app.NewAuditEvent(time.Now(), app.SystemActor(fmt.Sprint("w", w)), "test.append", "worker", fmt.Sprint(w), map[string]int{"i": i})
					if err := db.WithTx(ctx, func(tx app.Tx) error { return tx.AppendAudit(ctx, e) }); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := verifyChain(t, db); n != workers*each {
			t.Errorf("chain length %d, want %d", n, workers*each)
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

// TestAuditTimeNeverDecreases: a record stamped before its predecessor (a
// clock stepped back) takes the predecessor's time, so time windows map to
// id ranges; windows in the middle of history select exactly their records.
func TestAuditTimeNeverDecreases(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		appendN(t, db, 10) // t0, t0+1m, … t0+9m
		late := &app.AuditEvent{At: t0.Add(-time.Hour), ActorType: app.ActorSystem, ActorID: "clock", Event: "x.stepped_back"}
		mustTx(t, db, func(tx app.Tx) error { return tx.AppendAudit(ctx, late) })
		got, err := db.AuditByID(ctx, late.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(9 * time.Minute); !got.At.Equal(want) || !late.At.Equal(want) {
			t.Errorf("stepped-back record stored at %v (returned %v), want %v", got.At, late.At, want)
		}
		verifyChain(t, db)

		cases := []struct {
			name     string
			from, to time.Time
			want     []int64
		}{
			{"middle window", t0.Add(3 * time.Minute), t0.Add(6 * time.Minute), []int64{6, 5, 4}},
			{"from only", t0.Add(8 * time.Minute), time.Time{}, []int64{11, 10, 9}},
			{"to only", time.Time{}, t0.Add(2 * time.Minute), []int64{2, 1}},
			{"between records", t0.Add(3*time.Minute + time.Second), t0.Add(4 * time.Minute), nil},
			{"after everything", t0.Add(time.Hour), time.Time{}, nil},
			{"before everything", time.Time{}, t0.Add(-time.Hour), nil},
		}
		for _, c := range cases {
			evs, err := db.ListAudit(ctx, app.AuditFilter{From: c.from, To: c.to, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(c.want) {
				t.Errorf("%s: ids %v, want %v", c.name, ids, c.want)
			}
			var walked []int64
			if err := db.WalkAudit(ctx, c.from, c.to, func(e *app.AuditEvent) error {
				walked = append([]int64{e.ID}, walked...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(walked) != fmt.Sprint(c.want) {
				t.Errorf("%s: walked %v, want %v", c.name, walked, c.want)
			}
		}
	})
}

func TestCreateSettingOnlyOnce(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		var first, second bool
		mustTx(t, db, func(tx app.Tx) error {
			var err error
			first, err = tx.CreateSetting(ctx, "k", []byte("one"))
			return err
		})
		mustTx(t, db, func(tx app.Tx) error {
			var err error
			second, err = tx.CreateSetting(ctx, "k", []byte("two"))
			return err
		})
		got, err := db.Setting(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if !first || second || string(got) != "one" {
			t.Errorf("created %v then %v, value %q; want true, false, \"one\"", first, second, got)
		}
	})
}
