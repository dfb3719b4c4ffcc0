package store

import (
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// TestOutboxCursor: one owner holds the lease until it expires; the cursor
// only moves forward; an error stays until the next advance.
func TestOutboxCursor(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		if _, err := db.OutboxCursor(ctx, "syslog"); app.ErrCode(err) != app.ENOTFOUND {
			t.Fatalf("cursor before any claim: %v, want not found", err)
		}
		t0 := time.UnixMilli(1_700_000_000_000).UTC()
		claim := func(owner string, now time.Time) bool {
			t.Helper()
			var held bool
			if err := db.WithTx(ctx, func(tx app.Tx) (err error) {
				held, err = tx.ClaimOutbox(ctx, "syslog", owner, now, now.Add(30*time.Second))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return held
		}
		for _, step := range []struct {
			owner string
			at    time.Duration
			want  bool
		}{
			{"a", 0, true},
			{"b", time.Second, false},      // a's lease runs
			{"a", 10 * time.Second, true},  // renewal
			{"b", 39 * time.Second, false}, // renewed until 40s
			{"b", 41 * time.Second, true},  // expired: b takes over
			{"a", 42 * time.Second, false},
		} {
			if got := claim(step.owner, t0.Add(step.at)); got != step.want {
				t.Fatalf("claim by %s at +%v = %v, want %v", step.owner, step.at, got, step.want)
			}
		}
		tx := func(fn func(app.Tx) error) {
			t.Helper()
			if err := db.WithTx(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		tx(func(tx app.Tx) error { return tx.AdvanceOutbox(ctx, "syslog", 7, t0) })
		tx(func(tx app.Tx) error { return tx.SetOutboxError(ctx, "syslog", "connect: refused", t0) })
		tx(func(tx app.Tx) error { return tx.AdvanceOutbox(ctx, "syslog", 5, t0) }) // a resend never moves it back
		c, err := db.OutboxCursor(ctx, "syslog")
		if err != nil {
			t.Fatal(err)
		}
		if c.LastSeq != 7 || c.LastError != "" || c.LeaseOwner != "b" {
			t.Fatalf("cursor = %+v, want last_seq 7, no error, owner b", c)
		}
		tx(func(tx app.Tx) error { return tx.SetOutboxError(ctx, "syslog", "connect: refused", t0) })
		if c, _ = db.OutboxCursor(ctx, "syslog"); c.LastError != "connect: refused" {
			t.Fatalf("error = %q", c.LastError)
		}
	})
}
