package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// Each role reads, in the list and one by one, exactly the audit records
// its role may see; a hidden record is 404 like a missing one.
func TestAuditRecordsByRole(t *testing.T) {
	e := newTestEnv(t)
	tokens := map[app.Role]string{}
	for _, r := range app.Roles {
		e.mkUser(string(r)+"@example.com", r)
		tokens[r] = e.login(string(r) + "@example.com")
	}
	ids := map[string]int64{}
	for typ := range testkit.AuditReaders {
		ids[typ] = testkit.AppendAudit(t, e.svc.Store(), "matrix."+typ, typ, "m1").ID
	}
	for _, role := range app.Roles {
		t.Run(string(role), func(t *testing.T) {
			// Pages of 2 must stay full and reach every readable record.
			listed := map[string]bool{}
			cursor := ""
			for page := 0; ; page++ {
				if page > 50 {
					t.Fatal("pagination does not end")
				}
				st, body := e.do("GET", "/api/v1/audit?resource_id=m1&limit=2&cursor="+cursor, tokens[role], nil)
				if st != http.StatusOK {
					t.Fatalf("list: %d %v", st, body)
				}
				evs := body["events"].([]any)
				cursor, _ = body["next_cursor"].(string)
				if cursor != "" && len(evs) != 2 {
					t.Errorf("page %d has %d records and a next page", page, len(evs))
				}
				for _, ev := range evs {
					listed[ev.(map[string]any)["resource_type"].(string)] = true
				}
				if cursor == "" {
					break
				}
			}
			for typ, readers := range testkit.AuditReaders {
				want := slices.Contains(readers, role)
				if listed[typ] != want {
					t.Errorf("list shows %s records: %v, want %v", typ, listed[typ], want)
				}
				st, body := e.do("GET", fmt.Sprintf("/api/v1/audit/%d", ids[typ]), tokens[role], nil)
				switch {
				case want && st != http.StatusOK:
					t.Errorf("detail of %s record: %d %v, want 200", typ, st, body)
				case !want && (st != http.StatusNotFound || errCode(body) != "not_found" || errMessage(body) != "audit record not found"):
					t.Errorf("detail of hidden %s record: %d %v, want 404 like a missing record", typ, st, body)
				}
				// Asking for the type by name shows nothing more.
				st, body = e.do("GET", "/api/v1/audit?resource_type="+typ, tokens[role], nil)
				if n := len(body["events"].([]any)); st != http.StatusOK || (n > 0) != want {
					t.Errorf("filter on %s: %d, %d records, want some: %v", typ, st, n, want)
				}
			}
		})
	}
}
