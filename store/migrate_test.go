package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

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

// TestMigrateFrom0001 upgrades a database that has lived on 0001 (users,
// sessions, audit records) and uses the new tables with its users.
func TestMigrateFrom0001(t *testing.T) {
	run := func(t *testing.T, db *DB) {
		ctx := t.Context()
		ms, err := db.dialect.migrations()
		if err != nil {
			t.Fatal(err)
		}
		if did, err := db.migrateNext(ctx, ms[:1]); err != nil || !did {
			t.Fatalf("apply 0001 = %v, %v", did, err)
		}
		if applied, latest, err := db.SchemaVersion(ctx); err != nil || applied != 1 || latest < 2 {
			t.Fatalf("SchemaVersion = %d, %d, %v", applied, latest, err)
		}
		u := mustCreateUser(t, db, newUser("old@example.com", app.RoleAdmin))
		// 0001's sessions table: without 0012's client columns.
		if _, err := db.execRaw(ctx, "INSERT INTO sessions (id, user_id, session_version, data, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)",
			"s", u.ID, 1, []byte{}, toMS(t0), toMS(t0)); err != nil {
			t.Fatal(err)
		}
		appendN(t, db, 3)

		n, err := db.Migrate(ctx)
		if err != nil || n != len(ms)-1 {
			t.Fatalf("Migrate = %d, %v; want %d", n, err, len(ms)-1)
		}
		if got, err := db.UserByID(ctx, u.ID); err != nil || got.Email != u.Email {
			t.Errorf("user after migration = %+v, %v", got, err)
		}
		if _, err := db.SessionByID(ctx, "s"); err != nil {
			t.Errorf("session after migration: %v", err)
		}
		if n := verifyChain(t, db); n != 3 {
			t.Errorf("audit chain length %d, want 3", n)
		}
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		c := mustCreateChange(t, db, newChange(conn.ID, u, "first", 1))
		if got := mustGetChange(t, db, c.ID); got.CreatedBy != u.ID || len(got.Operations) != 1 {
			t.Errorf("change request after migration = %+v", got)
		}
	}

	openBoth(t, false, run)
}

// TestMigrateFrom0002 upgrades a database that has lived on 0002 (users,
// connectors, change requests) and syncs its connectors.
func TestMigrateFrom0002(t *testing.T) {
	run := func(t *testing.T, db *DB) {
		ctx := t.Context()
		ms, err := db.dialect.migrations()
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if did, err := db.migrateNext(ctx, ms[:2]); err != nil || !did {
				t.Fatalf("apply 0001-0002 = %v, %v", did, err)
			}
		}
		u := mustCreateUser(t, db, newUser("old@example.com", app.RoleAdmin))
		editor := mustCreateUser(t, db, newUser("editor@example.com", app.RoleOperator))
		// Rows as 0002 knew them: today's store writes columns it lacks.
		raw := func(query string, args ...any) int64 {
			var id int64
			if err := db.writer.QueryRowContext(ctx, db.dialect.rebind(query+" RETURNING id"), args...).Scan(&id); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			return id
		}
		conn := &app.Connector{ID: raw(`INSERT INTO connectors (name, type, config, required_approvals, created_at, updated_at) VALUES ('ldap', 'ldap', '{}', 1, 0, 0)`)}
		c := &app.ChangeRequest{ID: raw(`INSERT INTO change_requests (title, description, connector_id, created_by, created_by_email, state, revision, created_at, updated_at, finished_at)
VALUES ('old', '', ?, ?, ?, 'succeeded', 2, 0, 0, ?)`, conn.ID, u.ID, u.Email, toMS(t0))}
		raw(`INSERT INTO change_operations (change_request_id, seq, type, params, status) VALUES (?, 0, 'ldap.user.disable', '{"uid":"a"}', 'succeeded')`, c.ID)
		raw(`INSERT INTO approvals (change_request_id, user_id, user_email, decision, revision, at) VALUES (?, ?, ?, 'approve', 2, 0)`, c.ID, u.ID, u.Email)
		edited, err := app.NewAuditEvent(t0, app.UserActor(editor), "change.edited", "change_request", fmt.Sprint(c.ID), nil)
		if err != nil {
			t.Fatal(err)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.AppendAudit(ctx, edited) })

		n, err := db.Migrate(ctx)
		if err != nil || n != len(ms)-2 {
			t.Fatalf("Migrate = %d, %v; want %d", n, err, len(ms)-2)
		}
		// 0006: version 1, the creator and the editor the audit log names
		// are contributors, and the old approval binds no content.
		if got, err := db.ConnectorByID(ctx, conn.ID); err != nil || got.Version != 1 {
			t.Errorf("connector after migration = %+v, %v", got, err)
		}
		got := mustGetChange(t, db, c.ID)
		want := []app.Contributor{{UserID: u.ID, Email: u.Email}, {UserID: editor.ID, Email: editor.Email}}
		if !slices.Equal(got.Contributors, want) || len(got.Approvals) != 1 || got.Approvals[0].ContentHash != "" {
			t.Errorf("change after migration: contributors %+v, approvals %+v", got.Contributors, got.Approvals)
		}
		if due, err := db.DueSyncs(ctx, t0); err != nil || !slices.Equal(due, []int64{conn.ID}) {
			t.Errorf("DueSyncs after migration = %v, %v", due, err)
		}
		a := mustCreateAsset(t, db, newAsset(conn.ID, "ldap.user", "uid=a", "a"))
		if got, err := db.ListAssets(ctx, app.AssetFilter{ConnectorID: conn.ID}); err != nil || len(got) != 1 || got[0].ID != a.ID {
			t.Errorf("ListAssets after migration = %+v, %v", got, err)
		}
		if cs, err := db.ChangesTouchingSince(ctx, conn.ID, t0); err != nil || len(cs) != 1 || cs[0].ID != c.ID || len(cs[0].Operations) != 1 {
			t.Errorf("ChangesTouchingSince after migration = %+v, %v", cs, err)
		}
	}

	openBoth(t, false, run)
}
