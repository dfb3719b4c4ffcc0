package store

import (
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

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

func TestLockActiveAdmins(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		for _, u := range []*app.User{
			newUser("a1@example.com", app.RoleAdmin),
			newUser("a2@example.com", app.RoleAdmin),
			{Email: "a3@example.com", PasswordHash: []byte("h"), Role: app.RoleAdmin, Disabled: true},
			newUser("op@example.com", app.RoleOperator),
		} {
			mustCreateUser(t, db, u)
		}
		err := db.WithTx(t.Context(), func(tx app.Tx) error {
			n, err := tx.LockActiveAdmins(t.Context())
			if err == nil && n != 2 {
				t.Errorf("LockActiveAdmins = %d; want 2 (a disabled admin does not count)", n)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
