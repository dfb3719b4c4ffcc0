package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestPasskeys(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, newUser("pk@example.com", app.RoleAdmin))
		other := mustCreateUser(t, db, newUser("other-pk@example.com", app.RoleViewer))
		aaguid := bytes.Repeat([]byte{0xab}, 16)
		laptop := &app.Passkey{UserID: u.ID, CredentialID: []byte{1, 2, 3}, PublicKey: []byte("cose-1"), SignCount: 7,
			AAGUID: aaguid, Transports: []string{"internal", "hybrid"}, AttestationType: "none", Flags: 0x1d,
			Name: "Laptop", CreatedAt: t0}
		key := &app.Passkey{UserID: u.ID, CredentialID: []byte{4, 5, 6}, PublicKey: []byte("cose-2"), AAGUID: make([]byte, 16),
			Name: "YubiKey", CreatedAt: t0.Add(time.Minute)}
		mustTx(t, db, func(tx app.Tx) error {
			if err := tx.CreatePasskey(ctx, laptop); err != nil {
				return err
			}
			return tx.CreatePasskey(ctx, key)
		})
		if laptop.ID == 0 || key.ID == 0 || laptop.ID == key.ID {
			t.Fatalf("ids %d, %d", laptop.ID, key.ID)
		}
		keys, err := db.PasskeysOf(ctx, u.ID)
		if err != nil || len(keys) != 2 || keys[0].Name != "Laptop" || keys[1].Name != "YubiKey" {
			t.Fatalf("PasskeysOf = %+v, %v", keys, err)
		}
		got := keys[0]
		if !bytes.Equal(got.CredentialID, laptop.CredentialID) || string(got.PublicKey) != "cose-1" || got.SignCount != 7 ||
			!bytes.Equal(got.AAGUID, aaguid) || len(got.Transports) != 2 || got.Transports[1] != "hybrid" ||
			got.AttestationType != "none" || got.Flags != 0x1d || !got.CreatedAt.Equal(t0) || !got.LastUsedAt.IsZero() {
			t.Fatalf("stored passkey = %+v", got)
		}
		if p, err := db.PasskeyByCredentialID(ctx, []byte{4, 5, 6}); err != nil || p.ID != key.ID || p.Transports != nil {
			t.Fatalf("PasskeyByCredentialID = %+v, %v", p, err)
		}
		if _, err := db.PasskeyByCredentialID(ctx, []byte{9}); app.ErrCode(err) != app.ENOTFOUND {
			t.Fatalf("unknown credential: %v", err)
		}

		// A credential is registered once across users; names are unique
		// per user only.
		for _, tc := range []struct {
			what string
			p    *app.Passkey
			code app.ErrorCode
		}{
			{"same credential, other user", &app.Passkey{UserID: other.ID, CredentialID: []byte{1, 2, 3}, PublicKey: []byte("x"), AAGUID: aaguid, Name: "Mine", CreatedAt: t0}, app.ECONFLICT},
			{"same name, same user", &app.Passkey{UserID: u.ID, CredentialID: []byte{7}, PublicKey: []byte("x"), AAGUID: aaguid, Name: "Laptop", CreatedAt: t0}, app.ECONFLICT},
			{"no such user", &app.Passkey{UserID: 999999, CredentialID: []byte{8}, PublicKey: []byte("x"), AAGUID: aaguid, Name: "X", CreatedAt: t0}, app.ENOTFOUND},
		} {
			err := db.WithTx(ctx, func(tx app.Tx) error { return tx.CreatePasskey(ctx, tc.p) })
			if app.ErrCode(err) != tc.code {
				t.Errorf("%s: %v, want %s", tc.what, err, tc.code)
			}
		}
		mustTx(t, db, func(tx app.Tx) error {
			return tx.CreatePasskey(ctx, &app.Passkey{UserID: other.ID, CredentialID: []byte{10}, PublicKey: []byte("x"), AAGUID: aaguid, Name: "Laptop", CreatedAt: t0})
		})

		// The counter only moves forward (0 stays usable for keys without one).
		for _, tc := range []struct {
			id    int64
			count uint32
			want  bool
		}{{laptop.ID, 7, false}, {laptop.ID, 6, false}, {laptop.ID, 8, true}, {laptop.ID, 8, false}, {key.ID, 0, true}, {key.ID, 0, true}} {
			var ok bool
			mustTx(t, db, func(tx app.Tx) error {
				var err error
				ok, err = tx.UsePasskey(ctx, tc.id, tc.count, t0.Add(time.Hour))
				return err
			})
			if ok != tc.want {
				t.Errorf("UsePasskey(%d, %d) = %v, want %v", tc.id, tc.count, ok, tc.want)
			}
		}
		if p, _ := db.PasskeyByCredentialID(ctx, laptop.CredentialID); p.SignCount != 8 || !p.LastUsedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("after use: %+v", p)
		}

		// Another user's passkey is not found; deleting removes only one.
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.DeletePasskey(ctx, other.ID, laptop.ID) })
		if app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("delete another user's passkey: %v", err)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.DeletePasskey(ctx, u.ID, laptop.ID) })
		if keys, _ := db.PasskeysOf(ctx, u.ID); len(keys) != 1 || keys[0].ID != key.ID {
			t.Errorf("after delete: %+v", keys)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.DeletePasskeys(ctx, u.ID) })
		if keys, _ := db.PasskeysOf(ctx, u.ID); len(keys) != 0 {
			t.Errorf("after DeletePasskeys: %+v", keys)
		}
		if keys, _ := db.PasskeysOf(ctx, other.ID); len(keys) != 1 {
			t.Errorf("other user's passkeys touched: %+v", keys)
		}
	})
}

func TestPasskeyCeremonies(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		u := mustCreateUser(t, db, newUser("cer@example.com", app.RoleViewer))
		reg := &app.PasskeyCeremony{ID: "reg", Kind: app.CeremonyRegister, UserID: u.ID, Binding: "session:abc", Name: "Laptop",
			Data: []byte(`{"challenge":"x"}`), CreatedAt: t0, ExpiresAt: t0.Add(app.PasskeyCeremonyTTL)}
		login := &app.PasskeyCeremony{ID: "login", Kind: app.CeremonyLogin, Data: []byte(`{}`),
			CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(-time.Second)}
		mustTx(t, db, func(tx app.Tx) error {
			if err := tx.CreatePasskeyCeremony(ctx, reg); err != nil {
				return err
			}
			return tx.CreatePasskeyCeremony(ctx, login)
		})
		got, err := db.PasskeyCeremonyByID(ctx, "reg")
		if err != nil || got.Kind != app.CeremonyRegister || got.UserID != u.ID || got.Binding != "session:abc" ||
			got.Name != "Laptop" || string(got.Data) != `{"challenge":"x"}` || !got.ExpiresAt.Equal(reg.ExpiresAt) {
			t.Fatalf("PasskeyCeremonyByID = %+v, %v", got, err)
		}
		if got, err := db.PasskeyCeremonyByID(ctx, "login"); err != nil || got.UserID != 0 || got.Binding != "" {
			t.Fatalf("passwordless ceremony = %+v, %v", got, err)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreatePasskeyCeremony(ctx, &app.PasskeyCeremony{ID: "bad", Kind: "other", Data: []byte("{}"), CreatedAt: t0, ExpiresAt: t0})
		})
		if app.ErrCode(err) != app.EINVALID {
			t.Errorf("unknown kind: %v", err)
		}
		var n int64
		mustTx(t, db, func(tx app.Tx) error {
			var err error
			n, err = tx.DeleteExpiredPasskeyCeremonies(ctx, t0)
			return err
		})
		if n != 1 {
			t.Errorf("DeleteExpiredPasskeyCeremonies = %d, want 1", n)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.DeletePasskeyCeremony(ctx, "reg") })
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.DeletePasskeyCeremony(ctx, "reg") })
		if app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("second delete = %v, want not_found (single use)", err)
		}
	})
}
