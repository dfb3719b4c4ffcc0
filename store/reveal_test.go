package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestReveals(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		c := mustCreateChange(t, db, newChange(conn.ID, u, "t", 3))
		ops := c.Operations

		r1 := &app.Reveal{ChangeRequestID: c.ID, OperationID: ops[0].ID, UserID: u.ID, Sealed: []byte("\x00sealed-1\xff"), CreatedAt: t0}
		r2 := &app.Reveal{ChangeRequestID: c.ID, OperationID: ops[1].ID, UserID: u.ID, Sealed: []byte("sealed-2"),
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		mustTx(t, db, func(tx app.Tx) error {
			if err := tx.CreateReveal(ctx, r1); err != nil {
				return err
			}
			return tx.CreateReveal(ctx, r2)
		})
		if r1.ID == 0 || r2.ID == r1.ID || !r1.ExpiresAt.Equal(t0.Add(app.RevealTTL)) {
			t.Fatalf("created reveals %+v, %+v", r1, r2)
		}
		if got, err := db.RevealByOperation(ctx, ops[0].ID); err != nil || !reflect.DeepEqual(got, r1) {
			t.Errorf("RevealByOperation = %+v, %v\nwant %+v", got, err, r1)
		}
		if got, err := db.RevealsForChange(ctx, c.ID); err != nil || len(got) != 2 || !reflect.DeepEqual(got[1], *r2) {
			t.Errorf("RevealsForChange = %+v, %v", got, err)
		}

		// Expiry erases r2 only.
		var n int64
		mustTx(t, db, func(tx app.Tx) error {
			var err error
			n, err = tx.DeleteExpiredReveals(ctx, t0.Add(2*time.Hour))
			return err
		})
		if n != 1 {
			t.Errorf("DeleteExpiredReveals = %d, want 1", n)
		}
		_, err := db.RevealByOperation(ctx, ops[1].ID)
		wantCode(t, err, app.ENOTFOUND)

		// Shown once: the second delete finds nothing.
		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteReveal(ctx, r1.ID) })
		_, err = db.RevealByOperation(ctx, ops[0].ID)
		wantCode(t, err, app.ENOTFOUND)
		if app.ErrMessage(err) != "nothing to reveal" {
			t.Errorf("message = %q", app.ErrMessage(err))
		}
		wantCode(t, db.WithTx(ctx, func(tx app.Tx) error { return tx.DeleteReveal(ctx, r1.ID) }), app.ENOTFOUND)

		// One reveal per operation; replacing the operations erases theirs.
		r3 := &app.Reveal{ChangeRequestID: c.ID, OperationID: ops[2].ID, UserID: u.ID, Sealed: []byte("s3"), CreatedAt: t0}
		mustTx(t, db, func(tx app.Tx) error { return tx.CreateReveal(ctx, r3) })
		dup := *r3
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.CreateReveal(ctx, &dup) })
		wantCode(t, err, app.ECONFLICT)
		if app.ErrMessage(err) != "this operation already has a secret waiting to be shown" {
			t.Errorf("message = %q", app.ErrMessage(err))
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.ReplaceOperations(ctx, c.ID, nil) })
		if got, err := db.RevealsForChange(ctx, c.ID); err != nil || len(got) != 0 {
			t.Errorf("reveals after replacing operations = %+v, %v", got, err)
		}
	})
}
