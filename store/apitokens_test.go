package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestAPITokens(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, newUser("tok@example.com", app.RoleOperator))
		svc := mustCreateUser(t, db, &app.User{Email: "ci-bot", Role: app.RoleViewer, Kind: app.KindService})
		if got, err := db.UserByID(ctx, svc.ID); err != nil || got.Kind != app.KindService || len(got.PasswordHash) != 0 {
			t.Fatalf("service account = %+v, %v", got, err)
		}
		if got, err := db.UserByID(ctx, u.ID); err != nil || got.Kind != app.KindHuman {
			t.Fatalf("person = %+v, %v", got, err)
		}
		// A service account (empty password hash) can be updated.
		svc.Disabled = true
		mustTx(t, db, func(tx app.Tx) error { return tx.UpdateUser(ctx, svc) })

		a := &app.APIToken{UserID: u.ID, Name: "a", Role: app.RoleViewer, Hash: "h-a", CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour), CreatedBy: u.ID}
		b := &app.APIToken{UserID: u.ID, Name: "b", Role: app.RoleOperator, Hash: "h-b", CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour), CreatedBy: u.ID}
		c := &app.APIToken{UserID: svc.ID, Name: "c", Role: app.RoleViewer, Hash: "h-c", CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour), CreatedBy: u.ID}
		mustTx(t, db, func(tx app.Tx) error {
			for _, k := range []*app.APIToken{a, b, c} {
				if err := tx.CreateAPIToken(ctx, k); err != nil {
					return err
				}
			}
			return nil
		})
		got, owner, err := db.APITokenByHash(ctx, "h-a")
		if err != nil || !reflect.DeepEqual(got, a) || owner.ID != u.ID || owner.Email != u.Email || owner.Kind != app.KindHuman {
			t.Fatalf("APITokenByHash = %+v, %v; want %+v", got, err, a)
		}
		// The same inside a transaction (not the prepared statement).
		mustTx(t, db, func(tx app.Tx) error {
			got, owner, err := tx.APITokenByHash(ctx, "h-c")
			if err != nil || !reflect.DeepEqual(got, c) || owner.ID != svc.ID || owner.Kind != app.KindService {
				t.Errorf("tx APITokenByHash = %+v, %+v, %v", got, owner, err)
			}
			return nil
		})
		_, _, err = db.APITokenByHash(ctx, "nope")
		wantCode(t, err, app.ENOTFOUND)
		// A taken hash is a conflict.
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreateAPIToken(ctx, &app.APIToken{UserID: u.ID, Name: "dup", Role: app.RoleViewer, Hash: "h-a", CreatedAt: t0, ExpiresAt: t0})
		})
		wantCode(t, err, app.ECONFLICT)

		list, err := db.ListAPITokens(ctx, u.ID)
		if err != nil || len(list) != 2 || list[0].ID != b.ID || list[1].ID != a.ID {
			t.Fatalf("ListAPITokens = %+v, %v", list, err)
		}

		// Touch writes only when the last use is before notAfter.
		var wrote bool
		mustTx(t, db, func(tx app.Tx) (err error) {
			wrote, err = tx.TouchAPIToken(ctx, a.ID, t0.Add(time.Minute), "10.0.0.1", "curl", t0)
			return err
		})
		if !wrote {
			t.Fatal("first touch not written")
		}
		mustTx(t, db, func(tx app.Tx) (err error) {
			wrote, err = tx.TouchAPIToken(ctx, a.ID, t0.Add(90*time.Second), "10.0.0.2", "x", t0.Add(30*time.Second))
			return err
		})
		if got, _ := db.APITokenByID(ctx, a.ID); wrote || !got.LastUsedAt.Equal(t0.Add(time.Minute)) || got.LastUsedIP != "10.0.0.1" || got.LastUsedUserAgent != "curl" {
			t.Fatalf("throttled touch wrote: %v %+v", wrote, got)
		}

		// Revoke once; again is false; unknown is ENOTFOUND.
		var done bool
		mustTx(t, db, func(tx app.Tx) (err error) { done, err = tx.RevokeAPIToken(ctx, a.ID, t0.Add(time.Hour)); return err })
		if !done {
			t.Fatal("revoke not done")
		}
		mustTx(t, db, func(tx app.Tx) (err error) { done, err = tx.RevokeAPIToken(ctx, a.ID, t0.Add(2*time.Hour)); return err })
		if got, _ := db.APITokenByID(ctx, a.ID); done || !got.RevokedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("second revoke: %v %+v", done, got)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error { _, err := tx.RevokeAPIToken(ctx, 999999, t0); return err })
		wantCode(t, err, app.ENOTFOUND)

		// RevokeUserTokens: only the user's unrevoked ones.
		var n int64
		mustTx(t, db, func(tx app.Tx) (err error) { n, err = tx.RevokeUserTokens(ctx, u.ID, t0.Add(3*time.Hour)); return err })
		if n != 1 {
			t.Fatalf("RevokeUserTokens = %d, want 1", n)
		}
		if got, _ := db.APITokenByID(ctx, c.ID); !got.RevokedAt.IsZero() {
			t.Fatal("another user's token revoked")
		}
	})
}
