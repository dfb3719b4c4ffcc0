package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

var auditIDRe = regexp.MustCompile(`data-testid="audit-row" data-audit-id="(\d+)"`)

func auditIDs(body string) []int {
	var ids []int
	for _, m := range auditIDRe.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		ids = append(ids, n)
	}
	return ids
}

var nextRe = regexp.MustCompile(`href="(/audit\?[^"]*)"[^>]*data-testid="audit-next"`)

func TestAuditPagination(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	for i := range 5 {
		e.seedUser(fmt.Sprintf("user%d@example.com", i), app.RoleViewer)
	}
	c := e.client()
	e.login(c, "admin@example.com")

	var seen []int
	path := "/audit?event=user.created&limit=2"
	for page := 0; path != ""; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		r := e.get(c, path)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, r.StatusCode)
		}
		if strings.Contains(r.body, "<code>auth.login_succeeded</code>") {
			t.Fatal("event filter not applied")
		}
		seen = append(seen, auditIDs(r.body)...)
		path = ""
		if m := nextRe.FindStringSubmatch(r.body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
			u, _ := url.Parse(path)
			if u.Query().Get("event") != "user.created" || u.Query().Get("limit") != "2" || u.Query().Get("cursor") == "" {
				t.Fatalf("next link lost filters: %s", path)
			}
		}
	}
	if len(seen) != 6 {
		t.Fatalf("saw %d user.created records, want 6: %v", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first: %v", seen)
		}
	}
}

func TestAuditFilters(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("viewer@example.com", app.RoleViewer)
	c := e.client()
	e.login(c, "admin@example.com")
	now := e.clock.Now()
	past := now.Add(-time.Hour).Format("2006-01-02T15:04")
	future := now.Add(time.Hour).Format("2006-01-02T15:04")

	tests := []struct {
		name   string
		query  string
		status int
		want   []string
		absent []string
	}{
		{"actor", "actor=admin@example.com", 200, []string{"<code>auth.login_succeeded</code>"}, []string{"<code>user.created</code>"}},
		{"resource", "resource_type=user&resource_id=" + strconv.FormatInt(admin.ID, 10), 200, []string{"auth.login_succeeded", "user.created"}, nil},
		{"datetime-local range", "from=" + past + "&to=" + future, 200, []string{"user.created"}, nil},
		{"rfc3339 range in the future", "from=" + now.Add(time.Hour).Format(time.RFC3339), 200, []string{`data-testid="audit-empty"`}, []string{"<code>user.created</code>"}},
		{"bad from", "from=yesterday", 400, []string{`data-testid="audit-error"`, "From &#34;yesterday&#34; is not a time"}, nil},
		{"bad limit", "limit=lots", 400, []string{"Limit &#34;lots&#34; is not a whole number"}, nil},
		{"limit too big", "limit=501", 400, []string{"Limit must be between 1 and 500"}, nil},
		{"from after to", "from=" + future + "&to=" + past, 400, []string{"From must be before to"}, nil},
		{"bad cursor", "cursor=xyz", 400, []string{"Cursor is not valid"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get(c, "/audit?"+tc.query)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", r.StatusCode, tc.status, r.body)
			}
			requireContains(t, r, tc.want...)
			requireContains(t, r, `data-testid="audit-filter"`) // the form stays, with the values entered
			for _, s := range tc.absent {
				if strings.Contains(r.body, s) {
					t.Errorf("body has %q", s)
				}
			}
		})
	}
	t.Run("htmx gets the fragment only", func(t *testing.T) {
		r := e.get(c, "/audit?event=user.created", "HX-Request", "true")
		if r.StatusCode != http.StatusOK || strings.Contains(r.body, "<html") || strings.Contains(r.body, `data-testid="audit-filter"`) {
			t.Fatalf("fragment: %d\n%s", r.StatusCode, r.body)
		}
		requireContains(t, r, `id="audit-results"`, `data-testid="audit-table"`, "user.created")
		r = e.get(c, "/audit?from=nope", "HX-Request", "true")
		if r.StatusCode != http.StatusBadRequest || strings.Contains(r.body, "<html") {
			t.Fatalf("bad filter fragment: %d", r.StatusCode)
		}
		requireContains(t, r, `data-testid="audit-error"`)
		// A history restore wants the whole page.
		r = e.get(c, "/audit", "HX-Request", "true", "HX-History-Restore-Request", "true")
		requireContains(t, r, "<html", `data-testid="audit-filter"`)
	})
}

func TestAuditDetail(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	c := e.client()
	e.login(c, "admin@example.com")
	ev, err := e.svc.AuditEvent(context.Background(), app.SystemActor("test"), 1)
	if err != nil {
		t.Fatal(err)
	}
	r := e.get(c, "/audit/1")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("detail: %d", r.StatusCode)
	}
	requireContains(t, r, ev.Hash, ev.PrevHash, "user.created", "&#34;email&#34;: &#34;admin@example.com&#34;")
	for _, path := range []string{"/audit/999", "/audit/abc", "/audit/0"} {
		if r := e.get(c, path); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, r.StatusCode)
		}
	}
}
