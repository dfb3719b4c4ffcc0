package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/web"
)

// selectOptions returns the option values of the select with id and the
// selected one.
func selectOptions(t *testing.T, body, id string) (values []string, selected string) {
	t.Helper()
	m := regexp.MustCompile(`(?s)<select id="` + id + `"[^>]*>(.*?)</select>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no select %s", id)
	}
	for _, o := range regexp.MustCompile(`<option value="([^"]*)"( selected)?`).FindAllStringSubmatch(m[1], -1) {
		v := html.UnescapeString(o[1])
		values = append(values, v)
		if o[2] != "" {
			selected = v
		}
	}
	return values, selected
}

// inputValue is the value attribute of the input with id.
func inputValue(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<input id="` + id + `"[^>]* value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no input %s", id)
	}
	return html.UnescapeString(m[1])
}

// TestAuditFilterSelects: the event and resource-type selects offer app's
// catalogue: every event, and the resource types the reader's role may
// read; a value outside them is a readable 400, not an empty page.
func TestAuditFilterSelects(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("operator@example.com", app.RoleOperator)
	admin := e.client()
	e.login(admin, "admin@example.com")
	r := e.get(admin, "/audit")
	events, sel := selectOptions(t, r.body, "audit-event-filter")
	if sel != "" || events[0] != "" || !slices.Equal(events[1:], app.AuditEvents) {
		t.Fatalf("event options %v (selected %q), want \"\" then %v", events, sel, app.AuditEvents)
	}
	types, _ := selectOptions(t, r.body, "audit-resource-type")
	if !slices.Equal(types[1:], app.AuditResourceTypes()) {
		t.Fatalf("admin's resource types %v, want %v", types[1:], app.AuditResourceTypes())
	}

	op := e.client()
	e.login(op, "operator@example.com")
	r = e.get(op, "/audit?resource_type=change_request")
	types, sel = selectOptions(t, r.body, "audit-resource-type")
	if want := app.AuditReadableTypes(app.RoleOperator); !slices.Equal(types[1:], want) || sel != "change_request" {
		t.Fatalf("operator's resource types %v (selected %q), want %v", types[1:], sel, want)
	}
	if slices.Contains(types, "user") {
		t.Fatal("an operator is offered user records")
	}
	for _, tc := range []struct{ query, want string }{
		{"event=user.made", "&#34;user.made&#34; is not an audit event"},
		{"resource_type=user", "&#34;user&#34; is not a resource type you can filter on"},
	} {
		r := e.get(op, "/audit?"+tc.query)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tc.query, r.StatusCode)
		}
		requireContains(t, r, `data-testid="audit-error"`, tc.want, `data-testid="audit-filter"`)
	}
}

// TestAuditFilterURLRoundTrip: the filters live in the URL; the page shows
// them back (times as ISO 8601 UTC), the next-page link and the quick
// ranges keep them, and a time the page cannot read is a readable 400.
func TestAuditFilterURLRoundTrip(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.seedUser("admin@example.com", app.RoleAdmin)
	for i := range 3 {
		e.seedUser("viewer"+strconv.Itoa(i)+"@example.com", app.RoleViewer)
	}
	c := e.client()
	e.login(c, "admin@example.com")
	now := e.clock.Now().UTC()
	from := now.Add(-time.Hour).Format("2006-01-02T15:04") // the short form, read as UTC
	to := now.Add(time.Hour).Format(time.RFC3339)
	q := url.Values{"from": {from}, "to": {to}, "event": {"user.created"}, "resource_type": {"user"},
		"actor": {"test"}, "resource_id": {strconv.FormatInt(admin.ID, 10)}, "limit": {"2"}}
	r := e.get(c, "/audit?"+q.Encode())
	if r.StatusCode != http.StatusOK {
		t.Fatalf("filtered page: %d\n%s", r.StatusCode, r.body)
	}
	if got, want := inputValue(t, r.body, "audit-from"), from+":00Z"; got != want {
		t.Errorf("from shown as %q, want %q", got, want)
	}
	if got, want := inputValue(t, r.body, "audit-to"), now.Add(time.Hour).Format("2006-01-02T15:04:05Z"); got != want {
		t.Errorf("to shown as %q, want %q", got, want)
	}
	if got := inputValue(t, r.body, "audit-actor"); got != "test" {
		t.Errorf("actor shown as %q", got)
	}
	if _, sel := selectOptions(t, r.body, "audit-event-filter"); sel != "user.created" {
		t.Errorf("event selected %q", sel)
	}
	if _, sel := selectOptions(t, r.body, "audit-resource-type"); sel != "user" {
		t.Errorf("resource type selected %q", sel)
	}
	// Only the admin's record: the resource id narrows it.
	if ids := auditIDs(r.body); len(ids) != 1 {
		t.Errorf("rows %v, want the admin's user.created only", ids)
	}
	requireContains(t, r, `href="/users/`+strconv.FormatInt(admin.ID, 10)+`" data-testid="audit-resource-link"`)

	// The next-page link keeps every filter.
	q.Del("actor")
	q.Del("resource_id")
	r = e.get(c, "/audit?"+q.Encode())
	m := nextRe.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no next link with limit 2:\n%s", r.body)
	}
	next, _ := url.Parse(html.UnescapeString(m[1]))
	for k := range q {
		if next.Query().Get(k) != q.Get(k) {
			t.Errorf("next link %s lost %s", next, k)
		}
	}

	// Quick ranges: from = now − range, to dropped, the rest kept.
	for key, d := range map[string]time.Duration{"hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour} {
		m := regexp.MustCompile(`href="([^"]*)" class="small-link[^"]*" data-testid="audit-range-` + key + `"`).FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("no quick range %s", key)
		}
		u, _ := url.Parse(html.UnescapeString(m[1]))
		got := u.Query()
		if got.Get("from") != now.Add(-d).Truncate(time.Second).Format("2006-01-02T15:04:05Z") || got.Get("to") != "" ||
			got.Get("event") != "user.created" || got.Get("resource_type") != "user" || got.Get("limit") != "2" {
			t.Errorf("quick range %s: %s", key, u)
		}
		rr := e.get(c, u.String())
		if rr.StatusCode != http.StatusOK || !strings.Contains(rr.body, `aria-current="true" class="small-link active" data-testid="audit-range-`+key+`"`) {
			t.Errorf("quick range %s page: %d, not marked current", key, rr.StatusCode)
		}
	}

	for _, bad := range []string{"from=31/01/2025", "to=2025-13-01T00:00:00Z", "from=2025-01-31T14:00:00%2B25:00"} {
		r := e.get(c, "/audit?"+bad)
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, r.StatusCode)
		}
		requireContains(t, r, `role="alert" data-testid="audit-error"`, "is not a time: use ISO 8601 in UTC, such as 2025-01-31T14:00:00Z")
	}
}

// TestAuditResourceLinks: each row links its resource's page.
func TestAuditResourceLinks(t *testing.T) {
	for _, tc := range []struct {
		ev   app.AuditEvent
		want string
	}{
		{app.AuditEvent{ResourceType: "user", ResourceID: "7"}, "/users/7"},
		{app.AuditEvent{ResourceType: "change_request", ResourceID: "12"}, "/changes/12"},
		{app.AuditEvent{ResourceType: "connector", ResourceID: "3"}, "/connectors/3"},
		{app.AuditEvent{ResourceType: "asset", ResourceID: "44"}, "/assets/44"},
		{app.AuditEvent{ResourceType: "agent", ResourceID: "ag-1"}, "/agents/ag-1"},
		{app.AuditEvent{ResourceType: "enrollment_token", ResourceID: "5"}, "/agents"},
		{app.AuditEvent{ResourceType: "settings", ResourceID: "mfa_required"}, "/settings"},
		{app.AuditEvent{ResourceType: "identity_provider", ResourceID: "2"}, "/settings/identity-providers/2"},
		{app.AuditEvent{ResourceType: "audit"}, "/audit"},
		{app.AuditEvent{ResourceType: "api_token", ResourceID: "9", Payload: []byte(`{"owner_id":4,"name":"ci"}`)}, "/users/4/tokens"},
		{app.AuditEvent{ResourceType: "session", ResourceID: "abc", Payload: []byte(`{"user_id":6}`)}, "/users/6"},
	} {
		if got := web.AuditResourceURL(tc.ev); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.ev.ResourceType, tc.ev.ResourceID, got, tc.want)
		}
	}
	for _, ty := range app.AuditResourceTypes() {
		if web.AuditResourceURL(app.AuditEvent{ResourceType: ty, ResourceID: "1", Payload: []byte(`{"owner_id":1,"user_id":1}`)}) == "" {
			t.Errorf("resource type %s links nowhere", ty)
		}
	}
}
