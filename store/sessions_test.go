package store

import (
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

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
