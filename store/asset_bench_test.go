package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// assetFixtures holds the inventory-seeded stores of this process, one per
// driver (apart from the audit fixtures: both start from an empty store).
var assetFixtures = map[string]*storetest.Bench{}

func benchAssets(b *testing.B) int {
	n := storetest.BenchDefaultAssets
	if s := os.Getenv("NEXPLANE_BENCH_ASSETS"); s != "" {
		v, err := strconv.Atoi(s)
		// One asset in 60 has a bench.rule1 finding; the finding_rule
		// case needs a full page of them.
		if err != nil || v < 3000 {
			b.Fatalf("NEXPLANE_BENCH_ASSETS=%q: want an integer >= 3000", s)
		}
		n = v
	}
	return n
}

func assetStore(b *testing.B, driver string, n int) *storetest.Bench {
	benchFixtures.Lock()
	defer benchFixtures.Unlock()
	if db := assetFixtures[driver]; db != nil {
		return db
	}
	ctx := context.Background()
	db := openBenchStore(b, driver)
	start := time.Now()
	if err := db.SeedAssets(ctx, n); err != nil {
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
			{"common", app.AssetFilter{Text: "Smith"}, store.DefaultAssetLimit},
			{"one", app.AssetFilter{Text: storetest.BenchAssetName(n / 2)}, 1},
			{"none", app.AssetFilter{Text: "no-such-asset"}, 0},
			{"external_id", app.AssetFilter{Text: "akia"}, store.DefaultAssetLimit},
			{"connector_one", app.AssetFilter{ConnectorID: 1, Text: storetest.BenchAssetName(n / 2 / 4 * 4)}, 1},
			{"finding_rule", app.AssetFilter{Finding: "bench.rule1"}, store.DefaultAssetLimit},
			{"unfiltered", app.AssetFilter{}, store.DefaultAssetLimit},
		} {
			b.Run(c.name, func(b *testing.B) {
				ctx := b.Context()
				loopP50(b, func() error {
					page, err := db.ListAssets(ctx, c.f)
					if err == nil && (len(page) < c.min || len(page) > store.DefaultAssetLimit) {
						err = fmt.Errorf("page has %d assets, want >= %d", len(page), c.min)
					}
					return err
				})
			})
		}
	})
}

// TestSeededAssetsAreFound checks the seeder's copy of the search key
// against the store's search: a seeded asset is found by its name and by
// its external id, on both drivers.
func TestSeededAssetsAreFound(t *testing.T) {
	drivers := []string{store.DriverSQLite}
	if os.Getenv(storetest.EnvTestPostgresURL) != "" {
		drivers = append(drivers, store.DriverPostgres)
	}
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			db := storetest.MustOpenBench(t, driver)
			if err := db.SeedAssets(t.Context(), 1000); err != nil {
				t.Fatal(err)
			}
			want, err := db.AssetByID(t.Context(), 501)
			if err != nil {
				t.Fatal(err)
			}
			for _, text := range []string{strings.ToUpper(storetest.BenchAssetName(500)), want.ExternalID} {
				page, err := db.ListAssets(t.Context(), app.AssetFilter{Text: text})
				if err != nil {
					t.Fatal(err)
				}
				if len(page) != 1 || page[0].ID != want.ID {
					t.Errorf("search %q: %d assets, want asset %d", text, len(page), want.ID)
				}
			}
		})
	}
}
