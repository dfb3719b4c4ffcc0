package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// BenchmarkAuthenticatedRequest measures the per-request cost of
// authentication on GET /api/v1/me: JWT verify, the user lookup that enforces
// disable and session version, and the role check, without network I/O.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	e := newTestEnv(b)
	e.mkUser("admin@example.com", app.RoleAdmin)
	tok := e.login("admin@example.com")
	h := api.New(api.Config{Service: e.svc, Tokens: e.tokens})
	req := httptest.NewRequest("GET", "/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkVerifyAndRoleCheck isolates the CPU part: signature and claims
// checks plus the permission table, no database.
func BenchmarkVerifyAndRoleCheck(b *testing.B) {
	e := newTestEnv(b)
	u := e.mkUser("admin@example.com", app.RoleAdmin)
	tok, _, err := e.tokens.Issue(u)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := e.tokens.Verify(tok)
		if err != nil || !app.Can(c.Role, app.ActReadAudit) {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuditAPI measures GET /api/v1/audit through the handler (token
// check, query parsing, store, JSON) on a seeded log of
// NEXPLANE_BENCH_AUDIT_ROWS records (default 1,000,000), on SQLite and, when
// NEXPLANE_TEST_POSTGRES_URL is set, PostgreSQL. p50-µs is the median.
func BenchmarkAuditAPI(b *testing.B) {
	rows := storetest.BenchDefaultRows
	if s := os.Getenv("NEXPLANE_BENCH_AUDIT_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 8000 {
			b.Fatalf("NEXPLANE_BENCH_AUDIT_ROWS=%q: want an integer >= 8000", s)
		}
		rows = n
	}
	drivers := []string{store.DriverSQLite}
	if os.Getenv(storetest.EnvTestPostgresURL) != "" {
		drivers = append(drivers, store.DriverPostgres)
	}
	for _, driver := range drivers {
		b.Run(driver, func(b *testing.B) {
			db := storetest.MustOpenBench(b, driver)
			if err := db.SeedAudit(b.Context(), rows); err != nil {
				b.Fatal(err)
			}
			svc := app.NewService(app.Config{Store: db.DB, Hasher: auth.NewHasher(4, 2)})
			u, err := svc.CreateUser(b.Context(), app.SystemActor("bench"), app.NewUser{Email: "admin@example.com", Password: testPassword, Role: "admin"})
			if err != nil {
				b.Fatal(err)
			}
			tokens, err := auth.NewTokens(testkit.RSAKey(b, 0), "nexplane", "nexplane-api", time.Now)
			if err != nil {
				b.Fatal(err)
			}
			tok, _, err := tokens.Issue(u)
			if err != nil {
				b.Fatal(err)
			}
			h := api.New(api.Config{Service: svc, Tokens: tokens})
			mid := rows / 2
			day := 86400 // seeded records are one second apart
			at := func(i int) string { return storetest.BenchAt(i).Format(time.RFC3339) }
			cases := []struct{ name, query string }{
				{"filtered_first", "resource_type=change_request&resource_id=17"},
				{"filtered_deep", "resource_type=change_request&resource_id=17&cursor=" + app.EncodeCursor(int64(mid))},
				{"unfiltered_deep", "cursor=" + app.EncodeCursor(int64(mid))},
				{"time_window_mid", "from=" + at(mid-day/2) + "&to=" + at(mid+day/2)},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					req := httptest.NewRequest("GET", "/api/v1/audit?limit=50&"+c.query, nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					var lat []time.Duration
					for b.Loop() {
						w := httptest.NewRecorder()
						t0 := time.Now()
						h.ServeHTTP(w, req)
						lat = append(lat, time.Since(t0))
						if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"events":[{`) {
							b.Fatalf("status %d: %.200s", w.Code, w.Body)
						}
					}
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				})
			}
		})
	}
}

// BenchmarkChangeLifecycle measures whole change requests per second through
// the API on SQLite against a real slapd: create, submit (plans against the
// directory), approve, execute, and wait for the engine to finish one
// ldap.user.disable/enable. exec-to-first-op-ms is the p50 from the execute
// call's commit to the first operation starting (both stamped by the server).
func BenchmarkChangeLifecycle(b *testing.B) {
	e := newChangeEnvTB(b)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		typ := "ldap.user.disable"
		if i%2 == 1 {
			typ = "ldap.user.enable"
		}
		i++
		_, body := e.run(op(typ, map[string]any{"uid": "bob"}))
		if body["status"] != "succeeded" {
			b.Fatalf("run: %v", body)
		}
		started, _ := time.Parse(time.RFC3339, body["started_at"].(string))
		first, _ := time.Parse(time.RFC3339, body["operations"].([]any)[0].(map[string]any)["started_at"].(string))
		lat = append(lat, first.Sub(started))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "exec-to-first-op-ms")
}

// BenchmarkSyncIAM syncs an emulated IAM account of NEXPLANE_BENCH_IAM_USERS
// users (default 2,000) with two access keys each through the API: the
// inventory read, the asset upserts, drift check and hygiene rules in one
// transaction. Reported: IAM calls per sync and assets per sync.
func BenchmarkSyncIAM(b *testing.B) {
	users := 2000
	if v := os.Getenv("NEXPLANE_BENCH_IAM_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("NEXPLANE_BENCH_IAM_USERS=%q: want a positive number", v)
		}
		users = n
	}
	e := newAWSEnv(b)
	e.aws.SeedUsers(b, users, 2)
	path := fmt.Sprintf("/api/v1/connectors/%d/sync", e.connID)
	var calls int64
	var seen float64
	for b.Loop() {
		before := e.aws.Requests()
		st, body := e.do("POST", path, e.tokens["admin"], nil)
		if st != 200 {
			b.Fatalf("sync: %d %v", st, body)
		}
		calls += e.aws.Requests() - before
		seen = body["seen"].(float64)
	}
	b.ReportMetric(float64(calls)/float64(b.N), "iam-calls/sync")
	b.ReportMetric(seen, "assets/sync")
}
