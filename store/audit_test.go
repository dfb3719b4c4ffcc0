package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestAuditAppendChain(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		appended := appendN(t, db, 10)
		if n := verifyChain(t, db); n != 10 {
			t.Fatalf("chain length %d, want 10", n)
		}
		for i, e := range appended {
			got, err := db.AuditByID(ctx, int64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			// What AppendAudit filled in is exactly what was stored.
			if got.ID != e.ID || got.Hash != e.Hash || got.PrevHash != e.PrevHash || !got.At.Equal(e.At) ||
				string(got.Payload) != string(e.Payload) || got.ActorEmail != e.ActorEmail {
				t.Errorf("record %d: stored %+v, appended %+v", i+1, got, e)
			}
		}
		_, err := db.AuditByID(ctx, 11)
		wantCode(t, err, app.ENOTFOUND)

		// Payloads are stored compact; invalid JSON is refused.
		e := &app.AuditEvent{At: t0, ActorType: app.ActorSystem, ActorID: "test", Event: "x.y",
			Payload: json.RawMessage("{ \"a\" : [1, 2] }")}
		mustTx(t, db, func(tx app.Tx) error { return tx.AppendAudit(ctx, e) })
		if got, _ := db.AuditByID(ctx, e.ID); string(got.Payload) != `{"a":[1,2]}` {
			t.Errorf("payload stored as %s", got.Payload)
		}
		bad := &app.AuditEvent{At: t0, ActorType: app.ActorSystem, Event: "x.y", Payload: json.RawMessage("{nope")}
		wantCode(t, db.WithTx(ctx, func(tx app.Tx) error { return tx.AppendAudit(ctx, bad) }), app.EINVALID)
		verifyChain(t, db)
	})
}

func TestAuditIsAppendOnly(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		appendN(t, db, 3)
		stmts := []string{
			"UPDATE audit_log SET payload = '{}' WHERE id = 2",
			"UPDATE audit_log SET hash = 'x'",
			"DELETE FROM audit_log WHERE id = 3",
			"DELETE FROM audit_log",
		}
		if db.Driver() == DriverPostgres {
			stmts = append(stmts, "TRUNCATE audit_log")
		}
		for _, s := range stmts {
			if _, err := db.execRaw(t.Context(), s); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want the append-only refusal", s, err)
			}
		}
		if n := verifyChain(t, db); n != 3 {
			t.Errorf("chain length %d after refused changes, want 3", n)
		}
	})
}

func TestListAudit(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		all := appendN(t, db, 60)
		match := func(f app.AuditFilter) []int64 {
			var ids []int64
			for _, e := range slices.Backward(all) {
				if (!f.From.IsZero() && e.At.Before(f.From)) || (!f.To.IsZero() && !e.At.Before(f.To)) ||
					(f.ResourceType != "" && e.ResourceType != f.ResourceType) || (f.ResourceID != "" && e.ResourceID != f.ResourceID) ||
					(f.Actor != "" && e.ActorID != f.Actor && e.ActorEmail != f.Actor) || (f.Event != "" && e.Event != f.Event) ||
					(f.BeforeID > 0 && e.ID >= f.BeforeID) ||
					(f.ReadableTypes != nil && !slices.Contains(f.ReadableTypes, e.ResourceType)) {
					continue
				}
				ids = append(ids, e.ID)
			}
			return ids
		}
		cases := []struct {
			name string
			f    app.AuditFilter
		}{
			{"all", app.AuditFilter{Limit: 100}},
			{"from inclusive", app.AuditFilter{From: t0.Add(10 * time.Minute), Limit: 100}},
			{"to exclusive", app.AuditFilter{To: t0.Add(10 * time.Minute), Limit: 100}},
			{"window", app.AuditFilter{From: t0.Add(5 * time.Minute), To: t0.Add(25 * time.Minute), Limit: 100}},
			{"resource", app.AuditFilter{ResourceType: "user", ResourceID: "2", Limit: 100}},
			{"resource type", app.AuditFilter{ResourceType: "change_request", Limit: 100}},
			{"actor by id", app.AuditFilter{Actor: "1", Limit: 100}},
			{"actor by email", app.AuditFilter{Actor: "u2@example.com", Limit: 100}},
			{"event", app.AuditFilter{Event: "change.approved", Limit: 100}},
			{"combined", app.AuditFilter{Event: "user.created", ResourceType: "user", From: t0.Add(3 * time.Minute), Limit: 100}},
			{"before id", app.AuditFilter{BeforeID: 31, Limit: 100}},
			{"default limit", app.AuditFilter{}},
			{"nothing", app.AuditFilter{Event: "no.such", Limit: 100}},
			{"readable types", app.AuditFilter{ReadableTypes: []string{"change_request"}, Limit: 100}},
			{"readable types and event", app.AuditFilter{ReadableTypes: []string{"change_request", "asset"}, Event: "user.created", Limit: 100}},
			{"readable types exclude the asked type", app.AuditFilter{ReadableTypes: []string{"change_request"}, ResourceType: "user", Limit: 100}},
			{"no readable type", app.AuditFilter{ReadableTypes: []string{}, Limit: 100}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := db.ListAudit(ctx, c.f)
				if err != nil {
					t.Fatal(err)
				}
				want := match(c.f)
				limit := c.f.Limit
				if limit <= 0 {
					limit = app.DefaultAuditLimit
				}
				if len(want) > limit {
					want = want[:limit]
				}
				var ids []int64
				for _, e := range got {
					ids = append(ids, e.ID)
				}
				if !slices.Equal(ids, want) {
					t.Errorf("ids = %v\nwant %v", ids, want)
				}
			})
		}

		// Keyset pages of 7 neither overlap nor miss a record.
		for _, f := range []app.AuditFilter{{}, {ResourceType: "user"}, {Actor: "u0@example.com"}, {ReadableTypes: []string{"change_request"}}} {
			f.Limit = 7
			var seen []int64
			for {
				page, err := db.ListAudit(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					seen = append(seen, e.ID)
				}
				if len(page) < f.Limit {
					break
				}
				f.BeforeID = page[len(page)-1].ID
			}
			f.BeforeID, f.Limit = 0, 0
			if want := match(f); !slices.Equal(seen, want) {
				t.Errorf("paging %+v: got %v, want %v", f, seen, want)
			}
		}
	})
}

func TestListAuditClampsLimit(t *testing.T) {
	db := mustOpenSQLite(t)
	// Bulk-insert past the maximum page through one transaction.
	mustTx(t, db, func(tx app.Tx) error {
		for i := range app.MaxAuditLimit + 5 {
			e := &app.AuditEvent{At: t0, ActorType: app.ActorSystem, ActorID: "t", Event: "e.v", ResourceID: fmt.Sprint(i)}
			if err := tx.AppendAudit(t.Context(), e); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := db.ListAudit(t.Context(), app.AuditFilter{Limit: 10_000})
	if err != nil || len(got) != app.MaxAuditLimit {
		t.Errorf("ListAudit(limit 10000) = %d records, %v; want %d", len(got), err, app.MaxAuditLimit)
	}
}

func TestWalkAudit(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		appendN(t, db, 20) // at = t0 + i minutes, ids i+1
		cases := []struct {
			name     string
			from, to time.Time
			want     []int64
		}{
			{"all", time.Time{}, time.Time{}, seq(1, 20)},
			{"from", t0.Add(15 * time.Minute), time.Time{}, seq(16, 20)},
			{"to", time.Time{}, t0.Add(3 * time.Minute), seq(1, 3)},
			{"window", t0.Add(5 * time.Minute), t0.Add(8 * time.Minute), seq(6, 8)},
			{"empty", t0.Add(time.Hour), time.Time{}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var ids []int64
				err := db.WalkAudit(ctx, c.from, c.to, func(e *app.AuditEvent) error { ids = append(ids, e.ID); return nil })
				if err != nil || !slices.Equal(ids, c.want) {
					t.Errorf("WalkAudit = %v, %v; want %v", ids, err, c.want)
				}
			})
		}
		stop := errors.New("stop")
		calls := 0
		err := db.WalkAudit(ctx, time.Time{}, time.Time{}, func(*app.AuditEvent) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Errorf("WalkAudit with failing fn = %v after %d calls", err, calls)
		}
	})
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestConcurrentAppend(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		const workers, each = 8, 25
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					e, _ := app.NewAuditEvent(time.Now(), app.SystemActor(fmt.Sprint("w", w)), "test.append", "worker", fmt.Sprint(w), map[string]int{"i": i})
					if err := db.WithTx(ctx, func(tx app.Tx) error { return tx.AppendAudit(ctx, e) }); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := verifyChain(t, db); n != workers*each {
			t.Errorf("chain length %d, want %d", n, workers*each)
		}
	})
}

// TestAuditTimeNeverDecreases: a record stamped before its predecessor (a
// clock stepped back) takes the predecessor's time, so time windows map to
// id ranges; windows in the middle of history select exactly their records.
func TestAuditTimeNeverDecreases(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		appendN(t, db, 10) // t0, t0+1m, … t0+9m
		late := &app.AuditEvent{At: t0.Add(-time.Hour), ActorType: app.ActorSystem, ActorID: "clock", Event: "x.stepped_back"}
		mustTx(t, db, func(tx app.Tx) error { return tx.AppendAudit(ctx, late) })
		got, err := db.AuditByID(ctx, late.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(9 * time.Minute); !got.At.Equal(want) || !late.At.Equal(want) {
			t.Errorf("stepped-back record stored at %v (returned %v), want %v", got.At, late.At, want)
		}
		verifyChain(t, db)

		cases := []struct {
			name     string
			from, to time.Time
			want     []int64
		}{
			{"middle window", t0.Add(3 * time.Minute), t0.Add(6 * time.Minute), []int64{6, 5, 4}},
			{"from only", t0.Add(8 * time.Minute), time.Time{}, []int64{11, 10, 9}},
			{"to only", time.Time{}, t0.Add(2 * time.Minute), []int64{2, 1}},
			{"between records", t0.Add(3*time.Minute + time.Second), t0.Add(4 * time.Minute), nil},
			{"after everything", t0.Add(time.Hour), time.Time{}, nil},
			{"before everything", time.Time{}, t0.Add(-time.Hour), nil},
		}
		for _, c := range cases {
			evs, err := db.ListAudit(ctx, app.AuditFilter{From: c.from, To: c.to, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(c.want) {
				t.Errorf("%s: ids %v, want %v", c.name, ids, c.want)
			}
			var walked []int64
			if err := db.WalkAudit(ctx, c.from, c.to, func(e *app.AuditEvent) error {
				walked = append([]int64{e.ID}, walked...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(walked) != fmt.Sprint(c.want) {
				t.Errorf("%s: walked %v, want %v", c.name, walked, c.want)
			}
		}
	})
}
