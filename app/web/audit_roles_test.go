package web_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// The console's audit list and detail pages show each role exactly the
// records it may read; a hidden record's page is the not-found page.
func TestAuditRecordsByRole(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, r := range app.Roles {
		e.seedUser(string(r)+"@example.com", r)
	}
	ids := map[string]int64{}
	for typ := range testkit.AuditReaders {
		ids[typ] = testkit.AppendAudit(t, e.svc.Store(), "matrix."+typ, typ, "m1").ID
	}
	for _, role := range app.Roles {
		t.Run(string(role), func(t *testing.T) {
			c := e.client()
			e.login(c, string(role)+"@example.com")
			r := e.get(c, "/audit?resource_id=m1&limit=500")
			if r.StatusCode != http.StatusOK {
				t.Fatalf("list: %d", r.StatusCode)
			}
			for typ, readers := range testkit.AuditReaders {
				want := slices.Contains(readers, role)
				if got := strings.Contains(r.body, "<code>matrix."+typ+"</code>"); got != want {
					t.Errorf("list shows %s records: %v, want %v", typ, got, want)
				}
				d := e.get(c, fmt.Sprintf("/audit/%d", ids[typ]))
				switch {
				case want && d.StatusCode != http.StatusOK:
					t.Errorf("detail of %s record: %d, want 200", typ, d.StatusCode)
				case !want && (d.StatusCode != http.StatusNotFound || strings.Contains(d.body, "matrix."+typ)):
					t.Errorf("detail of hidden %s record: %d, want 404 without the record", typ, d.StatusCode)
				}
			}
		})
	}
}
