package store

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestClaimExecution(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		c := newChange(conn.ID, u, "run me", 1)
		c.State = app.StateExecuting
		mustCreateChange(t, db, c)
		until := t0.Add(time.Minute)

		// Eight workers race for one request; exactly one wins.
		const workers = 8
		var wg sync.WaitGroup
		start := make(chan struct{})
		won := make([]bool, workers)
		errs := make([]error, workers)
		for w := range workers {
			wg.Go(func() {
				<-start
				errs[w] = db.WithTx(ctx, func(tx app.Tx) error {
					var err error
					won[w], err = tx.ClaimExecution(ctx, c.ID, fmt.Sprint("worker-", w), until)
					return err
				})
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		winner := slices.Index(won, true)
		if n := len(slices.DeleteFunc(slices.Clone(won), func(b bool) bool { return !b })); n != 1 {
			t.Fatalf("%d workers claimed the request, want 1", n)
		}
		owner := fmt.Sprint("worker-", winner)
		if got := mustGetChange(t, db, c.ID); got.LeaseOwner != owner || !got.LeaseExpiresAt.Equal(until) {
			t.Errorf("lease = %q until %v; want %q until %v", got.LeaseOwner, got.LeaseExpiresAt, owner, until)
		}

		approved := newChange(conn.ID, u, "not executing", 0)
		approved.State = app.StateApproved
		mustCreateChange(t, db, approved)

		later := until.Add(time.Minute)
		cases := []struct {
			name  string
			run   func(tx app.Tx) (bool, error)
			want  bool
			until time.Time // the lease expiry afterwards
		}{
			{"claim held", func(tx app.Tx) (bool, error) { return tx.ClaimExecution(ctx, c.ID, "late", later) }, false, until},
			{"renew by non-owner", func(tx app.Tx) (bool, error) { return tx.RenewLease(ctx, c.ID, "worker-x", later) }, false, until},
			{"renew by owner", func(tx app.Tx) (bool, error) { return tx.RenewLease(ctx, c.ID, owner, later) }, true, later},
			{"claim not executing", func(tx app.Tx) (bool, error) { return tx.ClaimExecution(ctx, approved.ID, "w", later) }, false, later},
			{"claim missing", func(tx app.Tx) (bool, error) { return tx.ClaimExecution(ctx, 9999, "w", later) }, false, later},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var got bool
				mustTx(t, db, func(tx app.Tx) error { var err error; got, err = tc.run(tx); return err })
				if got != tc.want {
					t.Errorf("got %v, want %v", got, tc.want)
				}
				if c := mustGetChange(t, db, c.ID); c.LeaseOwner != owner || !c.LeaseExpiresAt.Equal(tc.until) {
					t.Errorf("lease = %q until %v; want %q until %v", c.LeaseOwner, c.LeaseExpiresAt, owner, tc.until)
				}
			})
		}

		// Once the request leaves executing, its owner cannot renew.
		done := mustGetChange(t, db, c.ID)
		done.State = app.StateSucceeded
		mustTx(t, db, func(tx app.Tx) error { return tx.UpdateChangeRequest(ctx, done) })
		mustTx(t, db, func(tx app.Tx) error {
			if ok, err := tx.RenewLease(ctx, c.ID, owner, later); ok || err != nil {
				t.Errorf("RenewLease after success = %v, %v", ok, err)
			}
			return nil
		})

		for name, run := range map[string]func(tx app.Tx) error{
			"claim": func(tx app.Tx) error { _, err := tx.ClaimExecution(ctx, c.ID, "", later); return err },
			"renew": func(tx app.Tx) error { _, err := tx.RenewLease(ctx, c.ID, "", later); return err },
		} {
			t.Run("empty owner "+name, func(t *testing.T) { wantCode(t, db.WithTx(ctx, run), app.EINVALID) })
		}
	})
}

func TestWorkerQueues(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		now := t0.Add(time.Hour)
		mk := func(state app.ChangeState, owner string, expires time.Time) int64 {
			c := newChange(conn.ID, u, string(state)+owner, 0)
			c.State, c.LeaseOwner, c.LeaseExpiresAt = state, owner, expires
			return mustCreateChange(t, db, c).ID
		}
		queued1 := mk(app.StateExecuting, "", time.Time{})
		expired1 := mk(app.StateExecuting, "w1", now.Add(-time.Second))
		mk(app.StateExecuting, "w2", now.Add(time.Second)) // live
		mk(app.StateExecuting, "w3", now)                  // ends exactly now: not before now
		mk(app.StateApproved, "", time.Time{})
		mk(app.StateInterrupted, "w4", now.Add(-time.Hour))
		queued2 := mk(app.StateExecuting, "", time.Time{})
		expired2 := mk(app.StateExecuting, "w5", now.Add(-time.Hour))
		// Queued last but an emergency: it goes first.
		ec := newChange(conn.ID, u, "emergency", 0)
		ec.State, ec.Emergency = app.StateExecuting, true
		emergency := mustCreateChange(t, db, ec).ID
		queued := func(limit int) ([]int64, error) {
			qs, err := db.QueuedExecutions(ctx, limit)
			var ids []int64
			for _, q := range qs {
				if q.ConnectorID != conn.ID || q.Emergency != (q.ID == emergency) {
					t.Errorf("queued %+v: wrong connector or emergency flag", q)
				}
				ids = append(ids, q.ID)
			}
			return ids, err
		}

		cases := []struct {
			name string
			run  func() ([]int64, error)
			want []int64
		}{
			{"queued", func() ([]int64, error) { return queued(10) }, []int64{emergency, queued1, queued2}},
			{"queued limit", func() ([]int64, error) { return queued(1) }, []int64{emergency}},
			{"queued default limit", func() ([]int64, error) { return queued(0) }, []int64{emergency, queued1, queued2}},
			{"expired", func() ([]int64, error) { return db.ExpiredLeases(ctx, now) }, []int64{expired1, expired2}},
			{"expired long ago", func() ([]int64, error) { return db.ExpiredLeases(ctx, now.Add(-time.Minute)) }, []int64{expired2}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got, err := c.run(); err != nil || !slices.Equal(got, c.want) {
					t.Errorf("got %v, %v; want %v", got, err, c.want)
				}
			})
		}

	})
}

// TestWakeOnQueuedExecution: on PostgreSQL a transaction that moves a
// request to executing wakes every listener when it commits; SQLite has no
// other writer to hear from.
func TestWakeOnQueuedExecution(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		wake := db.Wake(ctx)
		if db.Driver() != DriverPostgres {
			if wake != nil {
				t.Fatal("SQLite Wake returned a channel")
			}
			return
		}
		<-wake // listening now (the first wake-up covers work queued before)
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		c := mustCreateChange(t, db, newChange(conn.ID, u, "queued", 1))
		select {
		case <-wake:
			t.Fatal("woken by a change that was not queued")
		default:
		}
		c.State = app.StateExecuting
		mustTx(t, db, func(tx app.Tx) error { return tx.UpdateChangeRequest(ctx, c) })
		<-wake
	})
}
