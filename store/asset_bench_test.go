package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// assetFixtures holds the inventory-seeded stores of this process, one per
// driver (apart from the audit fixtures: both start from an empty store).
var assetFixtures = map[string]*DB{}

func benchAssets(b *testing.B) int {
	n := BenchDefaultAssets
	if s := os.Getenv("NEXPLANE_BENCH_ASSETS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("NEXPLANE_BENCH_ASSETS=%q: want an integer >= 1000", s)
		}
		n = v
	}
	return n
}

func assetStore(b *testing.B, driver string, n int) *DB {
	benchFixtures.Lock()
	defer benchFixtures.Unlock()
	if db := assetFixtures[driver]; db != nil {
		return db
	}
	ctx := context.Background()
	db := openBenchStore(b, driver)
	start := time.Now()
	if err := SeedAssetsForBench(ctx, db, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d assets on %s in %v", n, driver, time.Since(start).Round(time.Millisecond))
	assetFixtures[driver] = db
	return db
}

// BenchmarkAssetSearch measures the first page of the console's asset
// search. The cases range from a term on many assets (the walk stops after
// one page) to terms on one asset or none, which visit every present asset:
// the worst case, which the 10 ms p50 target is about.
func BenchmarkAssetSearch(b *testing.B) {
	n := benchAssets(b)
	benchDrivers(b, func(b *testing.B, driver string) {
		db := assetStore(b, driver, n)
		for _, c := range []struct {
			name string
			f    app.AssetFilter
			min  int // fewest results expected
		}{
			{"common", app.AssetFilter{Text: "Smith"}, defaultAssetLimit},
			{"one", app.AssetFilter{Text: BenchAssetName(n / 2)}, 1},
			{"none", app.AssetFilter{Text: "no-such-asset"}, 0},
			{"external_id", app.AssetFilter{Text: "akia"}, defaultAssetLimit},
			{"connector_one", app.AssetFilter{ConnectorID: 1, Text: BenchAssetName(n / 2 / 4 * 4)}, 1},
			{"finding_rule", app.AssetFilter{Finding: "bench.rule1"}, defaultAssetLimit},
			{"unfiltered", app.AssetFilter{}, defaultAssetLimit},
		} {
			b.Run(c.name, func(b *testing.B) {
				ctx := b.Context()
				loopP50(b, func() error {
					page, err := db.ListAssets(ctx, c.f)
					if err == nil && (len(page) < c.min || len(page) > defaultAssetLimit) {
						err = fmt.Errorf("page has %d assets, want >= %d", len(page), c.min)
					}
					return err
				})
			})
		}
	})
}
