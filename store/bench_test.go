package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// benchFixtures holds the seeded stores of this process, one per driver.
var benchFixtures struct {
	sync.Mutex
	dbs      map[string]*storetest.Bench
	cleanups []func() error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, c := range slices.Backward(benchFixtures.cleanups) {
		if err := c(); err != nil {
			fmt.Fprintln(os.Stderr, "bench fixture cleanup:", err)
		}
	}
	os.Exit(code)
}

func benchRows(b *testing.B) int {
	n := storetest.BenchDefaultRows
	if s := os.Getenv("NEXPLANE_BENCH_AUDIT_ROWS"); s != "" {
		v, err := strconv.Atoi(s)
		// A resource recurs every 4,000 records; its deep page, half way
		// down, must still fill 50 rows.
		if err != nil || v < 2*50*4000 {
			b.Fatalf("NEXPLANE_BENCH_AUDIT_ROWS=%q: want an integer >= %d", s, 2*50*4000)
		}
		n = v
	}
	return n
}

// openBenchStore opens an empty migrated store for driver that lives until
// the benchmarks end (benchFixtures' lock held).
func openBenchStore(b *testing.B, driver string) *storetest.Bench {
	db, closeFn, err := storetest.OpenBench(context.Background(), driver)
	if err != nil {
		b.Fatal(err)
	}
	benchFixtures.cleanups = append(benchFixtures.cleanups, closeFn)
	return db
}

// seededStore returns the process's seeded store for driver, seeding it on
// first use.
func seededStore(b *testing.B, driver string, rows int) *storetest.Bench {
	benchFixtures.Lock()
	defer benchFixtures.Unlock()
	if db := benchFixtures.dbs[driver]; db != nil {
		return db
	}
	ctx := context.Background()
	db := openBenchStore(b, driver)
	start := time.Now()
	if err := db.SeedAudit(ctx, rows); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d audit records on %s in %v", rows, driver, time.Since(start).Round(time.Millisecond))
	if benchFixtures.dbs == nil {
		benchFixtures.dbs = map[string]*storetest.Bench{}
	}
	benchFixtures.dbs[driver] = db
	return db
}

// benchDrivers runs fn per driver, PostgreSQL only when its URL is set.
func benchDrivers(b *testing.B, fn func(b *testing.B, driver string)) {
	b.Run(store.DriverSQLite, func(b *testing.B) { fn(b, store.DriverSQLite) })
	if os.Getenv(storetest.EnvTestPostgresURL) == "" {
		b.Logf("SKIP postgres: %s not set", storetest.EnvTestPostgresURL)
		return
	}
	b.Run(store.DriverPostgres, func(b *testing.B) { fn(b, store.DriverPostgres) })
}

// loopP50 runs op in b.Loop and reports the median latency beside ns/op.
func loopP50(b *testing.B, op func() error) {
	var lat []time.Duration
	for b.Loop() {
		t := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
}

func BenchmarkAuditAppend(b *testing.B) {
	benchDrivers(b, func(b *testing.B, driver string) {
		db := storetest.MustOpenBench(b, driver)
		ctx := b.Context()
		actor := app.SystemActor("bench")
		i := 0
		loopP50(b, func() error {
			i++
			e, err := app.NewAuditEvent(time.Now(), actor, "bench.append", "change_request", strconv.Itoa(i%100), map[string]int{"i": i})
			if err != nil {
				return err
			}
			return db.WithTx(ctx, func(tx app.Tx) error { return tx.AppendAudit(ctx, e) })
		})
	})
}

// BenchmarkAuditAppendCheckpointed is BenchmarkAuditAppend with the
// server's checkpoint loop running (one checkpoint a second): it must stay
// within 10 % of it, since appends never wait for checkpoints.
func BenchmarkAuditAppendCheckpointed(b *testing.B) {
	benchDrivers(b, func(b *testing.B, driver string) {
		db := storetest.MustOpenBench(b, driver)
		ctx := b.Context()
		v, err := vault.New([]byte("bench-secret-key-0123456789abcdef"), nil)
		if err != nil {
			b.Fatal(err)
		}
		svc := app.NewService(app.Config{Store: db, Sealer: v, Logger: slog.New(slog.DiscardHandler)})
		signer, _, err := svc.LoadOrCreateAuditSigner(ctx)
		if err != nil {
			b.Fatal(err)
		}
		loopCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { svc.RunCheckpoints(loopCtx, signer, time.Second, nil); close(done) }()
		defer func() { stop(); <-done }()
		actor := app.SystemActor("bench")
		i := 0
		loopP50(b, func() error {
			i++
			e, err := app.NewAuditEvent(time.Now(), actor, "bench.append", "change_request", strconv.Itoa(i%100), map[string]int{"i": i})
			if err != nil {
				return err
			}
			return db.WithTx(ctx, func(tx app.Tx) error { return tx.AppendAudit(ctx, e) })
		})
	})
}

// benchListCases are the filters measured, each with its deep-page cursor
// (well inside the matching records, so the page is full).
func benchListCases(rows int) []struct {
	name   string
	filter app.AuditFilter
	deep   int64
} {
	mid := rows / 2
	window := min(86_400, rows/4) // one day of records, one per second
	at := storetest.BenchAt
	return []struct {
		name   string
		filter app.AuditFilter
		deep   int64
	}{
		{"resource", app.AuditFilter{ResourceType: "change_request", ResourceID: "17"}, int64(mid)},
		{"unfiltered", app.AuditFilter{}, int64(mid)},
		// What a non-admin role reads: half the seeded types are the admin's.
		{"viewer", app.AuditFilter{ReadableTypes: app.AuditReadableTypes(app.RoleViewer)}, int64(mid)},
		{"viewer_resource", app.AuditFilter{ResourceType: "change_request", ResourceID: "17",
			ReadableTypes: app.AuditReadableTypes(app.RoleViewer)}, int64(mid)},
		// The console's usual question: the last day.
		{"time_recent", app.AuditFilter{From: at(rows - window)}, int64(rows - window/2)},
		// A day in the middle of history: the worst case (see BENCH note in the report).
		{"time_old", app.AuditFilter{From: at(mid - window/2), To: at(mid + window/2)}, int64(mid)},
	}
}

func benchList(b *testing.B, deep bool) {
	rows := benchRows(b)
	benchDrivers(b, func(b *testing.B, driver string) {
		db := seededStore(b, driver, rows)
		for _, c := range benchListCases(rows) {
			b.Run(c.name, func(b *testing.B) {
				f := c.filter
				f.Limit = app.DefaultAuditLimit
				if deep {
					f.BeforeID = c.deep
				}
				ctx := b.Context()
				loopP50(b, func() error {
					page, err := db.ListAudit(ctx, f)
					if err == nil && len(page) != f.Limit {
						err = fmt.Errorf("page has %d records, want %d", len(page), f.Limit)
					}
					return err
				})
			})
		}
	})
}

func BenchmarkAuditListFirstPage(b *testing.B) { benchList(b, false) }

func BenchmarkAuditListDeepPage(b *testing.B) { benchList(b, true) }

// TestBenchQueryPlans guards the list benchmarks' premise on SQLite: each
// filter is served by an index walk in id order, never a full sort.
func TestBenchQueryPlans(t *testing.T) {
	db := storetest.MustOpenBench(t, store.DriverSQLite)
	if err := db.SeedAudit(t.Context(), 8000); err != nil {
		t.Fatal(err)
	}
	for _, c := range benchListCases(8000) {
		for _, before := range []int64{0, c.deep} {
			f := c.filter
			f.BeforeID = before
			plan := store.AuditListPlan(t, db.DB, f)
			t.Logf("%s (before %d): %s", c.name, before, plan)
			if strings.Contains(plan, "TEMP B-TREE") && c.name != "time_old" {
				t.Errorf("%s (before %d): plan sorts: %s", c.name, before, plan)
			}
		}
	}
}

// checkpointedStore is the seeded store with the audit signing key and a
// checkpoint every 10,000 records, as the server's loop would have left.
func checkpointedStore(b *testing.B, driver string) (*storetest.Bench, *app.Service, *app.AuditSigner) {
	db := seededStore(b, driver, benchRows(b))
	ctx := b.Context()
	v, err := vault.New([]byte("bench-secret-key-0123456789abcdef"), nil)
	if err != nil {
		b.Fatal(err)
	}
	svc := app.NewService(app.Config{Store: db, Sealer: v, Logger: slog.New(slog.DiscardHandler)})
	signer, _, err := svc.LoadOrCreateAuditSigner(ctx) // checkpoints the head
	if err != nil {
		b.Fatal(err)
	}
	for seq := int64(10_000); seq < int64(benchRows(b)); seq += 10_000 {
		e, err := db.AuditByID(ctx, seq)
		if err != nil {
			b.Fatal(err)
		}
		d, err := e.ContentDigest()
		if err != nil {
			b.Fatal(err)
		}
		c := signer.Sign(seq, e.Hash, d, e.At)
		if err := db.WithTx(ctx, func(tx app.Tx) error { _, err := tx.AppendCheckpoint(ctx, c); return err }); err != nil {
			b.Fatal(err)
		}
	}
	return db, svc, signer
}

// BenchmarkAuditVerify is `nexplane audit verify` over the whole seeded
// log (1M records by default): the chain walk and every checkpoint.
func BenchmarkAuditVerify(b *testing.B) {
	benchDrivers(b, func(b *testing.B, driver string) {
		_, svc, _ := checkpointedStore(b, driver)
		var n int64
		for b.Loop() {
			res, err := svc.VerifyAudit(b.Context(), app.VerifyOptions{})
			if err != nil {
				b.Fatal(err)
			}
			n += res.Records
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkAuditExport streams the whole seeded log as an export to a file
// (export) and verifies that file offline (verify-file).
func BenchmarkAuditExport(b *testing.B) {
	benchDrivers(b, func(b *testing.B, driver string) {
		_, svc, signer := checkpointedStore(b, driver)
		path := b.TempDir() + "/export.jsonl"
		b.Run("export", func(b *testing.B) {
			for b.Loop() {
				f, err := os.Create(path)
				if err != nil {
					b.Fatal(err)
				}
				x, err := svc.PrepareAuditExport(b.Context(), app.SystemActor("bench"), time.Time{}, time.Time{})
				if err == nil {
					err = x.WriteTo(b.Context(), f)
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchRows(b))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run("verify-file", func(b *testing.B) {
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				_, err = app.VerifyAuditExport(f, signer.PublicKey())
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchRows(b))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	})
}
