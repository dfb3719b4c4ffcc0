package store_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// tamperFixture is a store whose audit log has 30 records checkpointed at
// 0, 10, 20 and 30, the witness lines the server logged for them, and a
// copy of the database as it was at record 20 (SQLite).
type tamperFixture struct {
	db       *store.DB
	svc      *app.Service
	signer   *app.AuditSigner
	witness  string
	snapshot string // SQLite file at record 20; "" on PostgreSQL
}

func newTamperFixture(t *testing.T, db *store.DB) *tamperFixture {
	t.Helper()
	ctx := t.Context()
	v, err := vault.New([]byte("tamper-test-secret-0123456789abcdef"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &tamperFixture{db: db, svc: app.NewService(app.Config{Store: db, Sealer: v, Logger: slog.New(slog.DiscardHandler)})}
	if f.signer, _, err = f.svc.LoadOrCreateAuditSigner(ctx); err != nil {
		t.Fatal(err)
	}
	for batch := range 3 {
		appendRecords(t, db, 10, batch*10)
		if _, err := f.svc.WriteCheckpoint(ctx, f.signer); err != nil {
			t.Fatal(err)
		}
		if batch == 1 && db.Driver() == store.DriverSQLite {
			f.snapshot = filepath.Join(t.TempDir(), "older.db")
			store.ExecRaw(t, db, "VACUUM INTO ?", f.snapshot)
		}
	}
	cs, err := db.CheckpointsAfter(ctx, -1, 0)
	if err != nil || len(cs) != 4 {
		t.Fatalf("checkpoints %v, %v; want 4", cs, err)
	}
	var lines []string
	for i := range cs {
		lines = append(lines, cs[i].MarshalLine())
	}
	f.witness = strings.Join(lines, "\n") + "\n"
	if _, err := f.svc.VerifyAudit(ctx, app.VerifyOptions{}); err != nil {
		t.Fatalf("untouched log: %v", err)
	}
	// From here on we are the attacker: the database's own refusal goes.
	if db.Driver() == store.DriverSQLite {
		for _, trg := range []string{"audit_log_no_update", "audit_log_no_delete", "audit_checkpoints_no_update", "audit_checkpoints_no_delete"} {
			store.ExecRaw(t, db, "DROP TRIGGER "+trg)
		}
	} else {
		store.ExecRaw(t, db, "ALTER TABLE audit_log DISABLE TRIGGER USER")
		store.ExecRaw(t, db, "ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
	}
	return f
}

func appendRecords(t *testing.T, db *store.DB, n, from int) {
	t.Helper()
	ctx := t.Context()
	err := db.WithTx(ctx, func(tx app.Tx) error {
		for i := range n {
			e, err := app.NewAuditEvent(time.UnixMilli(1767225600000).Add(time.Duration(from+i)*time.Second),
				app.Actor{Type: app.ActorUser, ID: "7", Email: "ops@example.com"}, "user.role_changed", "user", "9",
				map[string]any{"n": from + i})
			if err != nil {
				return err
			}
			if err := tx.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rewrite replaces the whole audit log by edit(records) with the chain
// recomputed, as a careful attacker would.
func (f *tamperFixture) rewrite(t *testing.T, edit func([]*app.AuditEvent) []*app.AuditEvent) {
	t.Helper()
	var recs []*app.AuditEvent
	if err := f.db.WalkAudit(t.Context(), time.Time{}, time.Time{}, func(e *app.AuditEvent) error {
		recs = append(recs, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	recs = edit(recs)
	store.ExecRaw(t, f.db, "DELETE FROM audit_log")
	prev := app.GenesisHash
	for i, e := range recs {
		e.ID, e.PrevHash = int64(i+1), prev
		h, err := e.ComputeHash()
		if err != nil {
			t.Fatal(err)
		}
		e.Hash, prev = h, h
		store.ExecRaw(t, f.db, "INSERT INTO audit_log (id, at_ms, actor_type, actor_id, actor_email, event, resource_type, resource_id, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			e.ID, e.At.UnixMilli(), string(e.ActorType), e.ActorID, e.ActorEmail, e.Event, e.ResourceType, e.ResourceID, string(e.Payload), e.PrevHash, e.Hash)
	}
}

// TestAuditTamperingIsDetected tampers with the audit log as someone who
// can write the database but lacks SECRET_KEY, and expects verify to name
// the kind of break: from the database alone where that is possible, and
// always once the server's logged checkpoints (a witness) are compared.
func TestAuditTamperingIsDetected(t *testing.T) {
	forged := func(e *app.AuditEvent) *app.AuditEvent {
		c := *e
		c.ActorEmail, c.Payload = "mallory@example.com", json.RawMessage(`{"role":"admin"}`)
		return &c
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, f *tamperFixture) *store.DB // the database to verify
		// alone is the break verify finds without a witness ("" where none
		// can: an older copy or a replaced key is consistent in itself);
		// witnessed is the break with the witness file (and pinned key).
		alone, witnessed app.BreakKind
		record           int64 // first bad record named without a witness; 0: not checked
	}{
		{"edit", func(t *testing.T, f *tamperFixture) *store.DB {
			store.ExecRaw(t, f.db, `UPDATE audit_log SET payload = '{"role":"admin"}' WHERE id = 15`)
			return f.db
		}, app.BreakEdited, app.BreakEdited, 15},
		{"edit and re-chain", func(t *testing.T, f *tamperFixture) *store.DB {
			f.rewrite(t, func(r []*app.AuditEvent) []*app.AuditEvent { r[14] = forged(r[14]); return r })
			return f.db
		}, app.BreakEdited, app.BreakEdited, 20},
		{"delete middle", func(t *testing.T, f *tamperFixture) *store.DB {
			store.ExecRaw(t, f.db, "DELETE FROM audit_log WHERE id = 15")
			return f.db
		}, app.BreakRemoved, app.BreakRemoved, 16},
		{"delete tail 1", func(t *testing.T, f *tamperFixture) *store.DB {
			store.ExecRaw(t, f.db, "DELETE FROM audit_log WHERE id = 30")
			return f.db
		}, app.BreakTruncated, app.BreakTruncated, 30},
		{"delete tail 20", func(t *testing.T, f *tamperFixture) *store.DB {
			store.ExecRaw(t, f.db, "DELETE FROM audit_log WHERE id > 10")
			return f.db
		}, app.BreakTruncated, app.BreakTruncated, 11},
		{"delete all", func(t *testing.T, f *tamperFixture) *store.DB {
			store.ExecRaw(t, f.db, "DELETE FROM audit_log")
			return f.db
		}, app.BreakTruncated, app.BreakTruncated, 1},
		{"insert forged", func(t *testing.T, f *tamperFixture) *store.DB {
			f.rewrite(t, func(r []*app.AuditEvent) []*app.AuditEvent {
				return append(r[:15:15], append([]*app.AuditEvent{forged(r[14])}, r[15:]...)...)
			})
			return f.db
		}, app.BreakInserted, app.BreakInserted, 20},
		{"delete and renumber", func(t *testing.T, f *tamperFixture) *store.DB {
			f.rewrite(t, func(r []*app.AuditEvent) []*app.AuditEvent { return append(r[:14:14], r[15:]...) })
			return f.db
		}, app.BreakRemoved, app.BreakRemoved, 20},
		{"reorder", func(t *testing.T, f *tamperFixture) *store.DB {
			f.rewrite(t, func(r []*app.AuditEvent) []*app.AuditEvent { r[13], r[14] = r[14], r[13]; return r })
			return f.db
		}, app.BreakEdited, app.BreakEdited, 20},
		{"roll back to an older copy", func(t *testing.T, f *tamperFixture) *store.DB {
			if f.snapshot == "" { // PostgreSQL: remove what came after record 20, checkpoints too
				store.ExecRaw(t, f.db, "DELETE FROM audit_log WHERE id > 20")
				store.ExecRaw(t, f.db, "DELETE FROM audit_checkpoints WHERE seq > 20")
				return f.db
			}
			older, err := store.OpenSQLite(t.Context(), f.snapshot, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { older.Close() })
			return older
		}, "", app.BreakRolledBack, 0},
		{"forge a checkpoint", func(t *testing.T, f *tamperFixture) *store.DB {
			e, err := f.db.AuditByID(t.Context(), 25)
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.ContentDigest()
			if err != nil {
				t.Fatal(err)
			}
			store.ExecRaw(t, f.db, "INSERT INTO audit_checkpoints (seq, hash, record_digest, at_ms, key_id, signature) VALUES (25, ?, ?, 0, ?, ?)",
				e.Hash, d, f.signer.KeyID(), make([]byte, ed25519.SignatureSize))
			return f.db
		}, app.BreakBadSignature, app.BreakBadSignature, 0},
		{"delete checkpoints", func(t *testing.T, f *tamperFixture) *store.DB {
			store.ExecRaw(t, f.db, "DELETE FROM audit_checkpoints")
			return f.db
		}, app.BreakRemoved, app.BreakRemoved, 0},
		{"delete the last checkpoint", func(t *testing.T, f *tamperFixture) *store.DB {
			store.ExecRaw(t, f.db, "DELETE FROM audit_checkpoints WHERE seq = 30")
			return f.db
		}, "", app.BreakRemoved, 0},
		{"replace the key and re-sign", func(t *testing.T, f *tamperFixture) *store.DB {
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			mine := app.NewAuditSigner(priv)
			cs, err := f.db.CheckpointsAfter(t.Context(), -1, 0)
			if err != nil {
				t.Fatal(err)
			}
			store.ExecRaw(t, f.db, "DELETE FROM audit_checkpoints")
			store.ExecRaw(t, f.db, "UPDATE settings SET value = ? WHERE key = ?", []byte(pub), app.AuditPublicKeySetting)
			for _, c := range cs {
				n := mine.Sign(c.Seq, c.Hash, c.RecordDigest, c.At)
				store.ExecRaw(t, f.db, "INSERT INTO audit_checkpoints (seq, hash, record_digest, at_ms, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)",
					n.Seq, n.Hash, n.RecordDigest, n.At.UnixMilli(), n.KeyID, n.Signature)
			}
			return f.db
		}, "", app.BreakBadSignature, 0},
	}
	storetest.MustOpenBoth(t, func(t *testing.T, db *store.DB) {
		// One fixture per case: each starts from an untouched log.
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var f *tamperFixture
				if tc.name == cases[0].name {
					f = newTamperFixture(t, db)
				} else {
					f = newTamperFixture(t, freshLike(t, db))
				}
				witness, err := app.ReadWitness(strings.NewReader(f.witness))
				if err != nil {
					t.Fatal(err)
				}
				pinned := f.signer.PublicKey()
				target := tc.tamper(t, f)
				svc := app.NewService(app.Config{Store: target}) // no sealer: verify needs no SECRET_KEY

				_, err = svc.VerifyAudit(t.Context(), app.VerifyOptions{})
				switch brk := asBreak(err); {
				case tc.alone == "" && err != nil:
					t.Errorf("without witness: %v, want no break (undetectable alone)", err)
				case tc.alone != "" && (brk == nil || brk.Kind != tc.alone):
					t.Errorf("without witness: %v, want a break of kind %q", err, tc.alone)
				case tc.record != 0 && brk.ID != tc.record:
					t.Errorf("without witness: %v, want record %d named", err, tc.record)
				}
				_, err = svc.VerifyAudit(t.Context(), app.VerifyOptions{Witness: witness, PinnedKey: pinned})
				if brk := asBreak(err); brk == nil || brk.Kind != tc.witnessed {
					t.Errorf("with witness: %v, want a break of kind %q", err, tc.witnessed)
				}
			})
		}
	})
}

func asBreak(err error) *app.ChainBreak {
	var brk *app.ChainBreak
	if errors.As(err, &brk) {
		return brk
	}
	return nil
}

// freshLike opens another empty migrated store of db's driver.
func freshLike(t *testing.T, db *store.DB) *store.DB {
	if db.Driver() == store.DriverSQLite {
		return storetest.MustOpenSQLite(t)
	}
	return storetest.MustOpenStore(t)
}

// TestAuditVerifyExpect: --expect seq:hash catches a rollback the database
// alone cannot show, and holds on the untouched log.
func TestAuditVerifyExpect(t *testing.T) {
	storetest.MustOpenBoth(t, func(t *testing.T, db *store.DB) {
		f := newTamperFixture(t, db)
		head, err := db.AuditByID(t.Context(), 30)
		if err != nil {
			t.Fatal(err)
		}
		expect, err := app.ParseExpectedHead(fmt.Sprintf("30:%s", head.Hash))
		if err != nil {
			t.Fatal(err)
		}
		res, err := f.svc.VerifyAudit(t.Context(), app.VerifyOptions{Expect: []app.ExpectedHead{expect}})
		if err != nil || res.Witnessed != 1 || res.Records != 30 || res.Checkpoints != 4 {
			t.Fatalf("untouched: %+v, %v", res, err)
		}
		store.ExecRaw(t, db, "DELETE FROM audit_log WHERE id > 20")
		store.ExecRaw(t, db, "DELETE FROM audit_checkpoints WHERE seq > 20")
		if _, err := f.svc.VerifyAudit(t.Context(), app.VerifyOptions{}); err != nil {
			t.Errorf("a clean rollback is consistent in itself, got %v", err)
		}
		_, err = f.svc.VerifyAudit(t.Context(), app.VerifyOptions{Expect: []app.ExpectedHead{expect}})
		if brk := asBreak(err); brk == nil || brk.Kind != app.BreakRolledBack || brk.Source != "--expect" {
			t.Errorf("rolled back with --expect: %v, want %q from --expect", err, app.BreakRolledBack)
		}
	})
}
