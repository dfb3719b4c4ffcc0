package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestRelayedWork(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		item := func(id, server string) *app.RelayedWork {
			return &app.RelayedWork{WorkID: id, AgentID: "0123456789abcdef", Server: server,
				Work: json.RawMessage(`{"id":"` + id + `","type":"host.facts.refresh","params":{}}`), State: app.RelayQueued,
				CreatedAt: t0, UpdatedAt: t0}
		}
		for _, w := range []*app.RelayedWork{item("w1", "b"), item("w2", "b"), item("w3", "c")} {
			mustTx(t, db, func(tx app.Tx) error { return tx.CreateRelayedWork(ctx, w) })
		}
		err := db.WithTx(ctx, func(tx app.Tx) error { return tx.CreateRelayedWork(ctx, item("w1", "c")) })
		if app.ErrCode(err) != app.ECONFLICT || app.ErrMessage(err) != "this work item is already being relayed" {
			t.Errorf("second w1: %v", err)
		}

		got, err := db.RelayedWorkFor(ctx, "b")
		if err != nil || len(got) != 2 || got[0].WorkID != "w1" || got[1].WorkID != "w2" || got[0].State != app.RelayQueued ||
			string(got[0].Work) != string(item("w1", "b").Work) || !got[0].CreatedAt.Equal(t0) {
			t.Fatalf("RelayedWorkFor(b) = %+v, %v", got, err)
		}

		move := func(id string, from []app.RelayState, to app.RelayState) bool {
			var ok bool
			mustTx(t, db, func(tx app.Tx) (err error) {
				ok, err = tx.MoveRelayedWork(ctx, id, from, to, t0.Add(time.Second))
				return err
			})
			return ok
		}
		finish := func(id string, result []byte, reason string) bool {
			var ok bool
			mustTx(t, db, func(tx app.Tx) (err error) {
				ok, err = tx.FinishRelayedWork(ctx, id, result, reason, t0.Add(2*time.Second))
				return err
			})
			return ok
		}
		queued, taken := []app.RelayState{app.RelayQueued}, []app.RelayState{app.RelayQueued, app.RelayTaken}
		if !move("w1", queued, app.RelayTaken) || move("w1", queued, app.RelayTaken) {
			t.Error("take w1: want exactly one winner")
		}
		if !finish("w1", []byte(`{"id":"w1","ok":true}`), "") || finish("w1", nil, "again") {
			t.Error("finish w1: want exactly once")
		}
		w1, err := db.RelayedWorkByID(ctx, "w1")
		if err != nil || w1.State != app.RelayDone || string(w1.Result) != `{"id":"w1","ok":true}` || w1.Error != "" ||
			!w1.UpdatedAt.Equal(t0.Add(2*time.Second)) {
			t.Errorf("w1 = %+v, %v", w1, err)
		}
		// A cancelled item cannot be finished; done ones leave the server's list.
		if !move("w2", taken, app.RelayCancelled) || finish("w2", nil, "late") {
			t.Error("cancel w2, then finish: want cancelled to stay")
		}
		if got, _ := db.RelayedWorkFor(ctx, "b"); len(got) != 1 || got[0].WorkID != "w2" || got[0].State != app.RelayCancelled {
			t.Errorf("RelayedWorkFor(b) after = %+v", got)
		}

		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteRelayedWork(ctx, "w2") })
		if _, err := db.RelayedWorkByID(ctx, "w2"); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("deleted w2: %v", err)
		}
		var n int64
		mustTx(t, db, func(tx app.Tx) (err error) {
			n, err = tx.DeleteStaleRelayedWork(ctx, t0.Add(time.Millisecond))
			return err
		})
		if n != 1 { // w3, never updated; w1 was updated later
			t.Errorf("stale deleted %d, want 1", n)
		}
		if _, err := db.RelayedWorkByID(ctx, "w1"); err != nil {
			t.Errorf("w1 after the stale sweep: %v", err)
		}
	})
}
