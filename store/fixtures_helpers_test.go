package store

import (
	"encoding/json"
	"errors"
	"fmt"
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

func newConnector(name string) *app.Connector {
	return &app.Connector{Name: name, Type: "ldap", Config: json.RawMessage(`{"url":"ldaps://dir.example.com","base_dn":"dc=example,dc=com"}`),
		RequiredApprovals: 1, CreatedAt: t0, UpdatedAt: t0}
}

func mustCreateConnector(t *testing.T, db *DB, c *app.Connector) *app.Connector {
	t.Helper()
	mustTx(t, db, func(tx app.Tx) error { return tx.CreateConnector(t.Context(), c) })
	return c
}

// newChange is a draft by u on connector connID with nOps operations.
func newChange(connID int64, u *app.User, title string, nOps int) *app.ChangeRequest {
	c := &app.ChangeRequest{Title: title, Description: "why: " + title, ConnectorID: connID, CreatedBy: u.ID,
		CreatedByEmail: u.Email, State: app.StateDraft, Revision: 1, CreatedAt: t0, UpdatedAt: t0}
	for i := range nOps {
		c.Operations = append(c.Operations, app.ChangeOperation{Seq: i, Type: "ldap.user.disable",
			Params: json.RawMessage(fmt.Sprintf(`{"uid":"user%d"}`, i))})
	}
	return c
}

func mustCreateChange(t *testing.T, db *DB, c *app.ChangeRequest) *app.ChangeRequest {
	t.Helper()
	mustTx(t, db, func(tx app.Tx) error { return tx.CreateChangeRequest(t.Context(), c) })
	return c
}

func mustGetChange(t *testing.T, db *DB, id int64) *app.ChangeRequest {
	t.Helper()
	c, err := db.ChangeRequestByID(t.Context(), id)
	if err != nil {
		t.Fatalf("ChangeRequestByID(%d): %v", id, err)
	}
	return c
}

func newAsset(connID int64, kind, externalID, name string) *app.Asset {
	return &app.Asset{ConnectorID: connID, Kind: kind, ExternalID: externalID, Name: name,
		Attributes: json.RawMessage(`{"path":"/"}`), FirstSeen: t0, LastSeen: t0}
}

func mustCreateAsset(t *testing.T, db *DB, a *app.Asset) *app.Asset {
	t.Helper()
	mustTx(t, db, func(tx app.Tx) error { return tx.CreateAsset(t.Context(), a) })
	return a
}

// checkSearchIndex has SQLite verify that the trigram index agrees with
// the assets table it indexes.
func checkSearchIndex(t *testing.T, db *DB) {
	t.Helper()
	if db.dialect != sqliteDialect {
		return
	}
	if _, err := db.execRaw(t.Context(), "INSERT INTO assets_search (assets_search) VALUES ('integrity-check')"); err != nil {
		t.Errorf("assets_search integrity: %v", err)
	}
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
