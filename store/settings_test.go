package store

import (
	"testing"

	"github.com/nexplane/nexplane/app"
)

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
