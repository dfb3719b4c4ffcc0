package store

import (
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestMFAFactorsAndRecoveryCodes(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, newUser("mfa@example.com", app.RoleAdmin))
		other := mustCreateUser(t, db, newUser("other@example.com", app.RoleViewer))

		pending := &app.MFAFactor{UserID: u.ID, Kind: app.FactorTOTP, Sealed: []byte("sealed-1"), CreatedAt: t0}
		mustTx(t, db, func(tx app.Tx) error { return tx.PutMFAFactor(ctx, pending) })
		fs, err := db.MFAFactors(ctx, u.ID)
		if err != nil || len(fs) != 1 || fs[0].Confirmed() || string(fs[0].Sealed) != "sealed-1" || !fs[0].CreatedAt.Equal(t0) {
			t.Fatalf("pending factor = %+v, %v", fs, err)
		}

		// Confirming replaces the row (upsert on user, kind).
		confirmed := &app.MFAFactor{UserID: u.ID, Kind: app.FactorTOTP, Sealed: []byte("sealed-2"), LastStep: 100,
			ConfirmedAt: t0.Add(time.Minute), CreatedAt: t0}
		mustTx(t, db, func(tx app.Tx) error { return tx.PutMFAFactor(ctx, confirmed) })
		fs, err = db.MFAFactors(ctx, u.ID)
		if err != nil || len(fs) != 1 || !fs[0].ConfirmedAt.Equal(t0.Add(time.Minute)) || fs[0].LastStep != 100 || string(fs[0].Sealed) != "sealed-2" {
			t.Fatalf("confirmed factor = %+v, %v", fs, err)
		}
		if all, err := db.AllMFAFactors(ctx); err != nil || len(all) != 1 {
			t.Fatalf("AllMFAFactors = %+v, %v", all, err)
		}

		// A step advances only forward: the same or an older step is refused.
		for _, tc := range []struct {
			step int64
			want bool
		}{{100, false}, {99, false}, {101, true}, {101, false}} {
			var got bool
			mustTx(t, db, func(tx app.Tx) error {
				var err error
				got, err = tx.AdvanceMFAStep(ctx, u.ID, app.FactorTOTP, tc.step)
				return err
			})
			if got != tc.want {
				t.Errorf("AdvanceMFAStep(%d) = %v, want %v", tc.step, got, tc.want)
			}
		}

		mustTx(t, db, func(tx app.Tx) error {
			if err := tx.ReplaceRecoveryCodes(ctx, u.ID, []string{"h1", "h2", "h3"}, t0); err != nil {
				return err
			}
			return tx.ReplaceRecoveryCodes(ctx, other.ID, []string{"h1"}, t0)
		})
		if n, err := db.CountRecoveryCodes(ctx, u.ID); err != nil || n != 3 {
			t.Fatalf("CountRecoveryCodes = %d, %v", n, err)
		}
		use := func(uid int64, h string) bool {
			var ok bool
			mustTx(t, db, func(tx app.Tx) error {
				var err error
				ok, err = tx.UseRecoveryCode(ctx, uid, h, t0)
				return err
			})
			return ok
		}
		if !use(u.ID, "h1") || use(u.ID, "h1") || use(u.ID, "nope") {
			t.Error("a recovery code must work exactly once")
		}
		if !use(other.ID, "h1") {
			t.Error("another user's code with the same hash is theirs")
		}
		if n, _ := db.CountRecoveryCodes(ctx, u.ID); n != 2 {
			t.Errorf("unused codes after one use = %d, want 2", n)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.ReplaceRecoveryCodes(ctx, u.ID, []string{"n1"}, t0) })
		if n, _ := db.CountRecoveryCodes(ctx, u.ID); n != 1 {
			t.Errorf("after replace = %d, want 1", n)
		}

		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteMFA(ctx, u.ID) })
		if fs, err := db.MFAFactors(ctx, u.ID); err != nil || len(fs) != 0 {
			t.Errorf("after DeleteMFA factors = %+v, %v", fs, err)
		}
		if n, _ := db.CountRecoveryCodes(ctx, u.ID); n != 0 {
			t.Errorf("after DeleteMFA codes = %d", n)
		}
	})
}

func TestMFAChallenges(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, newUser("ch@example.com", app.RoleViewer))
		live := &app.MFAChallenge{ID: "live", UserID: u.ID, SessionVersion: 2, Console: true, CreatedAt: t0, ExpiresAt: t0.Add(app.MFAChallengeTTL)}
		old := &app.MFAChallenge{ID: "old", UserID: u.ID, SessionVersion: 2, CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(-time.Second)}
		mustTx(t, db, func(tx app.Tx) error {
			if err := tx.CreateMFAChallenge(ctx, live); err != nil {
				return err
			}
			return tx.CreateMFAChallenge(ctx, old)
		})
		got, err := db.MFAChallengeByID(ctx, "live")
		if err != nil || !got.Console || got.UserID != u.ID || got.SessionVersion != 2 || !got.ExpiresAt.Equal(live.ExpiresAt) {
			t.Fatalf("MFAChallengeByID = %+v, %v", got, err)
		}
		if got, err := db.MFAChallengeByID(ctx, "old"); err != nil || got.Console {
			t.Fatalf("api challenge = %+v, %v", got, err)
		}
		var n int64
		mustTx(t, db, func(tx app.Tx) error {
			var err error
			n, err = tx.DeleteExpiredMFAChallenges(ctx, t0)
			return err
		})
		if n != 1 {
			t.Errorf("DeleteExpiredMFAChallenges = %d, want 1", n)
		}
		if _, err := db.MFAChallengeByID(ctx, "old"); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("expired challenge still there: %v", err)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteMFAChallenge(ctx, "live") })
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.DeleteMFAChallenge(ctx, "live") })
		if app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("second delete = %v, want not_found (single use)", err)
		}
	})
}
