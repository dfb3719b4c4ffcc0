package store

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestSyncState(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		a := mustCreateConnector(t, db, newConnector("a"))
		b := mustCreateConnector(t, db, newConnector("b"))
		c := mustCreateConnector(t, db, newConnector("c"))

		_, err := db.SyncStateOf(ctx, a.ID)
		wantCode(t, err, app.ENOTFOUND)
		if due, err := db.DueSyncs(ctx, t0); err != nil || !slices.Equal(due, []int64{a.ID, b.ID, c.ID}) {
			t.Errorf("DueSyncs before any sync = %v, %v", due, err)
		}

		put := func(s *app.SyncState) {
			t.Helper()
			mustTx(t, db, func(tx app.Tx) error { return tx.PutSyncState(ctx, s) })
		}
		sa := &app.SyncState{ConnectorID: a.ID, LastStarted: t0, LastFinished: t0.Add(time.Second), Assets: 42, NextDue: t0.Add(time.Hour)}
		put(sa)
		put(&app.SyncState{ConnectorID: b.ID, LastStarted: t0, NextDue: t0})
		if got, err := db.SyncStateOf(ctx, a.ID); err != nil || !reflect.DeepEqual(got, sa) {
			t.Errorf("SyncStateOf = %+v, %v\nwant %+v", got, err, sa)
		}
		// b is due at its next_due, c was never synced, a is not yet due.
		if due, err := db.DueSyncs(ctx, t0); err != nil || !slices.Equal(due, []int64{b.ID, c.ID}) {
			t.Errorf("DueSyncs(t0) = %v, %v", due, err)
		}
		if due, err := db.DueSyncs(ctx, t0.Add(time.Hour)); err != nil || !slices.Equal(due, []int64{a.ID, b.ID, c.ID}) {
			t.Errorf("DueSyncs(t0+1h) = %v, %v", due, err)
		}
		// Put replaces every field.
		sa2 := &app.SyncState{ConnectorID: a.ID, LastStarted: t0.Add(time.Hour), LastError: "access denied", NextDue: t0.Add(2 * time.Hour)}
		put(sa2)
		if got, err := db.SyncStateOf(ctx, a.ID); err != nil || !reflect.DeepEqual(got, sa2) {
			t.Errorf("SyncStateOf after second put = %+v, %v\nwant %+v", got, err, sa2)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.PutSyncState(ctx, &app.SyncState{ConnectorID: 9999}) })
		wantCode(t, err, app.ENOTFOUND)
	})
}

func TestChangesTouchingSince(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("aws"))
		other := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		since := t0.Add(time.Hour)
		mk := func(connID int64, state app.ChangeState, finished, updated time.Time) int64 {
			c := newChange(connID, u, string(state), 2)
			c.State, c.FinishedAt = state, finished
			if !updated.IsZero() {
				c.UpdatedAt = updated
			}
			return mustCreateChange(t, db, c).ID
		}
		executingID := mk(conn.ID, app.StateExecuting, time.Time{}, time.Time{})
		finishedAfter := mk(conn.ID, app.StateSucceeded, since.Add(time.Minute), time.Time{})
		finishedAt := mk(conn.ID, app.StateFailed, since, time.Time{})
		mk(conn.ID, app.StateSucceeded, since.Add(-time.Minute), time.Time{}) // before since
		mk(conn.ID, app.StateApproved, time.Time{}, time.Time{})              // not executed
		mk(conn.ID, app.StateDraft, time.Time{}, since.Add(time.Hour))        // edited, not executed
		interrupted := mk(conn.ID, app.StateInterrupted, time.Time{}, since.Add(time.Minute))
		mk(conn.ID, app.StateInterrupted, time.Time{}, since.Add(-time.Minute)) // interrupted long ago
		mk(other.ID, app.StateExecuting, time.Time{}, time.Time{})              // another connector

		cs, err := db.ChangesTouchingSince(ctx, conn.ID, since)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, c := range cs {
			got = append(got, c.ID)
			if len(c.Operations) != 2 || c.Operations[0].Seq != 0 || c.Approvals == nil {
				t.Errorf("change %d children: %+v / %+v", c.ID, c.Operations, c.Approvals)
			}
		}
		if want := []int64{executingID, finishedAfter, finishedAt, interrupted}; !slices.Equal(got, want) {
			t.Errorf("ChangesTouchingSince = %v, want %v", got, want)
		}
		if cs, err := db.ChangesTouchingSince(ctx, conn.ID, since.Add(24*time.Hour)); err != nil || len(cs) != 1 || cs[0].ID != executingID {
			t.Errorf("ChangesTouchingSince(later) = %+v, %v", cs, err)
		}
		// More requests than one children query loads at once.
		mustTx(t, db, func(tx app.Tx) error {
			for i := range maxChangeLimit + 5 {
				c := newChange(other.ID, u, fmt.Sprint(i), 1)
				c.State, c.FinishedAt = app.StateSucceeded, since
				if err := tx.CreateChangeRequest(ctx, c); err != nil {
					return err
				}
			}
			return nil
		})
		cs, err = db.ChangesTouchingSince(ctx, other.ID, since)
		if err != nil || len(cs) != maxChangeLimit+6 {
			t.Fatalf("many = %d, %v", len(cs), err)
		}
		for _, c := range cs {
			if len(c.Operations) == 0 {
				t.Fatalf("change %d has no operations loaded", c.ID)
			}
		}
	})
}
