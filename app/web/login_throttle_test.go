package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestClearLoginThrottleFromUsersPage: an admin's "Clear login throttling"
// lets a throttled user in at once; it is audited, admin-only and refused
// cross-origin.
func TestClearLoginThrottleFromUsersPage(t *testing.T) {
	e := newEnv(t, envOpts{limiter: app.NewLoginLimiter(app.LoginLimitConfig{PairMaxFailures: 3})})
	e.seedUser("admin@example.com", app.RoleAdmin)
	ops := e.seedUser("ops@example.com", app.RoleOperator)
	admin := e.client()
	e.login(admin, "admin@example.com")

	r := e.get(admin, "/users")
	action := "/users/" + strconv.FormatInt(ops.ID, 10) + "/login-throttle"
	requireContains(t, r, `action="`+action+`"`, "Clear login throttling")

	for range 3 {
		e.post(e.client(), "/login", url.Values{"email": {"ops@example.com"}, "password": {"wrong-wrong-wrong"}})
	}
	r = e.post(e.client(), "/login", url.Values{"email": {"ops@example.com"}, "password": {testPassword}})
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while throttled: %d, want 429", r.StatusCode)
	}

	// Not from another site, not by a non-admin.
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		if r := e.post(admin, action, url.Values{}, hdr...); r.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin %v: %d", hdr, r.StatusCode)
		}
	}
	viewer := e.client()
	e.seedUser("viewer@example.com", app.RoleViewer)
	e.login(viewer, "viewer@example.com")
	e.refused(t, viewer, e.post(viewer, action, url.Values{}), "/users", "Your role (")
	if r := e.post(admin, "/users/99999/login-throttle", url.Values{}); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown user: %d, want 404", r.StatusCode)
	}
	r = e.post(e.client(), "/login", url.Values{"email": {"ops@example.com"}, "password": {testPassword}})
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a refused clear took effect: %d", r.StatusCode)
	}

	r = e.post(admin, action, url.Values{})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/users" {
		t.Fatalf("clear: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	requireContains(t, e.get(admin, "/users"), "Login throttling cleared for ops@example.com")
	e.login(e.client(), "ops@example.com")

	evs, err := e.svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{Event: "user.login_throttle_cleared"})
	if err != nil || len(evs.Events) != 1 {
		t.Fatalf("audit: %v %v", evs, err)
	}
	if ev := evs.Events[0]; ev.ActorEmail != "admin@example.com" || ev.ResourceID != strconv.FormatInt(ops.ID, 10) ||
		!strings.Contains(string(ev.Payload), "ops@example.com") {
		t.Errorf("audit record: %+v", ev)
	}
}
