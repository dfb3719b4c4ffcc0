package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestPasswordLinks(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, newUser("links@example.com", app.RoleViewer))
		other := mustCreateUser(t, db, newUser("other-links@example.com", app.RoleViewer))
		links := []*app.PasswordLink{
			{ID: "inv", UserID: u.ID, Purpose: app.LinkInvite, CreatedBy: "1", Reveal: []byte("sealed"), CreatedAt: t0, ExpiresAt: t0.Add(app.InvitationTTL)},
			{ID: "rst", UserID: u.ID, Purpose: app.LinkReset, CreatedBy: "1", CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour)},
			{ID: "oth", UserID: other.ID, Purpose: app.LinkReset, CreatedBy: "", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)},
		}
		mustTx(t, db, func(tx app.Tx) error {
			for _, l := range links {
				if err := tx.CreatePasswordLink(ctx, l); err != nil {
					return err
				}
			}
			return nil
		})
		got, err := db.PasswordLinkByID(ctx, "inv")
		if err != nil || got.UserID != u.ID || got.Purpose != app.LinkInvite || !bytes.Equal(got.Reveal, []byte("sealed")) ||
			!got.ExpiresAt.Equal(t0.Add(app.InvitationTTL)) || !got.CreatedAt.Equal(t0) || got.CreatedBy != "1" {
			t.Fatalf("PasswordLinkByID = %+v, %v", got, err)
		}
		list, err := db.PasswordLinksOfUser(ctx, u.ID)
		if err != nil || len(list) != 2 || list[0].ID != "rst" || list[1].ID != "inv" {
			t.Fatalf("PasswordLinksOfUser = %+v, %v", list, err)
		}

		mustTx(t, db, func(tx app.Tx) error { return tx.ClearPasswordLinkReveal(ctx, "inv") })
		if got, err := db.PasswordLinkByID(ctx, "inv"); err != nil || len(got.Reveal) != 0 {
			t.Errorf("after ClearPasswordLinkReveal = %+v, %v", got, err)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.ClearPasswordLinkReveal(ctx, "nope") })
		wantCode(t, err, app.ENOTFOUND)

		var n int64
		mustTx(t, db, func(tx app.Tx) error {
			var err error
			n, err = tx.DeleteExpiredPasswordLinks(ctx, t0.Add(time.Hour))
			return err
		})
		if n != 1 {
			t.Errorf("DeleteExpiredPasswordLinks = %d, want 1 (the reset link expiring at that instant)", n)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.DeletePasswordLinks(ctx, u.ID) })
		_, err = db.PasswordLinkByID(ctx, "inv")
		wantCode(t, err, app.ENOTFOUND)
		if _, err := db.PasswordLinkByID(ctx, "oth"); err != nil {
			t.Errorf("another user's link went too: %v", err)
		}
		// Consuming works once.
		var consumed *app.PasswordLink
		mustTx(t, db, func(tx app.Tx) error { var err error; consumed, err = tx.ConsumePasswordLink(ctx, "oth"); return err })
		if consumed.UserID != other.ID || consumed.Purpose != app.LinkReset || !consumed.ExpiresAt.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("ConsumePasswordLink = %+v", consumed)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error { _, err := tx.ConsumePasswordLink(ctx, "oth"); return err })
		wantCode(t, err, app.ENOTFOUND)
		// Links go with their user.
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreatePasswordLink(ctx, &app.PasswordLink{ID: "ghost", UserID: 999999, Purpose: app.LinkInvite, CreatedAt: t0, ExpiresAt: t0})
		})
		if err == nil {
			t.Error("a link for a missing user was stored")
		}
	})
}

func TestSessionsOfUserKeepClientDetails(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, newUser("sess-list@example.com", app.RoleViewer))
		other := mustCreateUser(t, db, newUser("sess-other@example.com", app.RoleViewer))
		mustTx(t, db, func(tx app.Tx) error {
			for _, s := range []*app.Session{
				{ID: "a", UserID: u.ID, SessionVersion: 1, CreatedAt: t0, LastSeenAt: t0, ClientAddr: "192.0.2.1", UserAgent: "Firefox"},
				{ID: "b", UserID: u.ID, SessionVersion: 1, CreatedAt: t0, LastSeenAt: t0.Add(time.Minute), ClientAddr: "2001:db8::1", UserAgent: "Chromium"},
				{ID: "c", UserID: other.ID, SessionVersion: 1, CreatedAt: t0, LastSeenAt: t0},
			} {
				if err := tx.CreateSession(ctx, s); err != nil {
					return err
				}
			}
			return nil
		})
		list, err := db.SessionsOfUser(ctx, u.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("SessionsOfUser = %+v, %v", list, err)
		}
		if list[0].ID != "b" || list[0].ClientAddr != "2001:db8::1" || list[0].UserAgent != "Chromium" ||
			list[1].ID != "a" || list[1].ClientAddr != "192.0.2.1" || list[1].UserAgent != "Firefox" {
			t.Errorf("SessionsOfUser = %+v", list)
		}
		if s, err := db.SessionByID(ctx, "a"); err != nil || s.ClientAddr != "192.0.2.1" || s.UserAgent != "Firefox" {
			t.Errorf("SessionByID = %+v, %v", s, err)
		}
	})
}
