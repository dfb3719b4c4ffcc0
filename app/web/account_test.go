package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

var endURL = regexp.MustCompile(`action="(/(?:account|users/\d+)/sessions/[0-9a-f]+/end)"`)

// endURLs lists the "end" forms of a sessions table.
func endURLs(r response) []string {
	var out []string
	for _, m := range endURL.FindAllStringSubmatch(r.body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestAdminSeesAndEndsUserSessions(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	op := e.seedUser("op@example.com", app.RoleOperator)
	admin, opc, viewer := e.client(), e.client(), e.client()
	e.login(admin, "admin@example.com")
	e.seedUser("viewer@example.com", app.RoleViewer)
	e.login(viewer, "viewer@example.com")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/login", strings.NewReader(url.Values{"email": {op.Email}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "OpsBrowser/2.0")
	if r := e.do(opc, req); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("op login: %d", r.StatusCode)
	}

	userPage := fmt.Sprintf("/users/%d", op.ID)
	page := e.get(admin, userPage)
	requireContains(t, page, "op@example.com", "OpsBrowser/2.0", `data-testid="user-send-reset"`)
	ends := endURLs(page)
	if len(ends) != 1 || !strings.HasPrefix(ends[0], userPage+"/sessions/") {
		t.Fatalf("end forms %v", ends)
	}

	// Another user may not use the admin's pages; the owner may not open
	// them either (their own sessions are on /account).
	if r := e.get(opc, userPage); r.StatusCode != http.StatusForbidden {
		t.Errorf("GET %s as its owner: %d", userPage, r.StatusCode)
	}
	if r := e.get(viewer, userPage); r.StatusCode != http.StatusForbidden {
		t.Errorf("GET %s as viewer: %d", userPage, r.StatusCode)
	}
	// Refused POSTs go back to the page (PRG), which says why.
	e.refused(t, viewer, e.post(viewer, ends[0], nil), userPage, "Your role (")
	for _, c := range []*http.Client{viewer, opc} {
		e.refused(t, c, e.post(c, userPage+"/reset-password", nil), userPage, "Your role (")
	}
	// The owner's own account lists it, marked current, without "end".
	own := e.get(opc, "/account")
	requireContains(t, own, "OpsBrowser/2.0", `data-testid="session-current"`, `href="/account/tokens"`, `href="/account/mfa"`)
	if got := endURLs(own); len(got) != 0 {
		t.Errorf("own current session has an end form: %v", got)
	}
	// A handle of someone else's session is not found under /account.
	e.refused(t, viewer, e.post(viewer, "/account/sessions/"+strings.TrimPrefix(ends[0], userPage+"/sessions/"), nil), "/account",
		"There is no such session")

	// The admin ends it: the operator is logged out, the record says so.
	r := e.post(admin, ends[0], nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != userPage {
		t.Fatalf("end: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	requireLoggedOut(t, e.get(opc, "/account"))
	requireContains(t, e.get(admin, userPage), "The session has ended.", `data-testid="sessions-empty"`)
	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Event: "session.ended", Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].ActorEmail != "admin@example.com" || evs[0].ResourceType != "session" {
		t.Fatalf("session.ended records = %+v, %v", evs, err)
	}
	// Ending it again: it is gone (said on the page), nothing recorded.
	e.refused(t, admin, e.post(admin, ends[0], nil), userPage, "There is no such session")
	if evs, _ := e.db.ListAudit(context.Background(), app.AuditFilter{Event: "session.ended", Limit: 10}); len(evs) != 1 {
		t.Errorf("session.ended records after ending twice: %d", len(evs))
	}
}

func TestConsoleResetLink(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	op := e.seedUser("op@example.com", app.RoleOperator)
	admin, opc, stranger := e.client(), e.client(), e.client()
	e.login(admin, "admin@example.com")
	e.login(opc, op.Email)

	userPage := fmt.Sprintf("/users/%d", op.ID)
	r := e.post(admin, userPage+"/reset-password", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != userPage+"/link" || strings.Contains(r.body, "/reset/") {
		t.Fatalf("reset: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// Only the admin who made it sees it, once.
	e.seedUser("admin2@example.com", app.RoleAdmin)
	admin2 := e.client()
	e.login(admin2, "admin2@example.com")
	if r := e.get(admin2, userPage+"/link"); r.StatusCode != http.StatusNotFound {
		t.Errorf("another admin's reveal: %d", r.StatusCode)
	}
	reveal := e.get(admin, userPage+"/link")
	m := regexp.MustCompile(`(https://[^<"]+/reset/[A-Za-z0-9_-]{43})`).FindStringSubmatch(reveal.body)
	if m == nil {
		t.Fatalf("no reset link in:\n%s", reveal.body)
	}
	path := strings.TrimPrefix(m[1], e.srv.URL)
	if r := e.get(admin, userPage+"/link"); r.StatusCode != http.StatusNotFound {
		t.Errorf("second reveal: %d", r.StatusCode)
	}
	// The invitation route does not take a reset token, and a made-up
	// token is a readable 404.
	if r := e.get(stranger, "/invite/"+strings.TrimPrefix(path, "/reset/")); r.StatusCode != http.StatusNotFound {
		t.Errorf("reset token on /invite: %d", r.StatusCode)
	}
	requireContains(t, e.get(stranger, "/reset/made-up-token"), `data-testid="link-invalid"`)

	form := e.get(stranger, path)
	requireContains(t, form, `data-testid="set-password-form"`, "op@example.com")
	// Policy applies: a breached password is refused and nothing changes.
	if r := e.post(stranger, path, url.Values{"password": {"password1234"}, "confirm": {"password1234"}}); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("breached password: %d", r.StatusCode)
	} else {
		requireContains(t, r, `data-testid="set-password-error"`)
	}
	if r := e.get(opc, "/account"); r.StatusCode != http.StatusOK {
		t.Fatalf("op's session before the reset: %d", r.StatusCode)
	}
	const fresh = "op-fresh-passphrase-after-reset"
	r = e.post(stranger, path, url.Values{"password": {fresh}, "confirm": {fresh}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
		t.Fatalf("set password: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	// The browser that used the link is op now; op's old session ended.
	requireContains(t, e.get(stranger, "/account"), `data-testid="account-email">op@example.com`)
	requireLoggedOut(t, e.get(opc, "/account"))
	if r := e.post(e.client(), path, url.Values{"password": {fresh}, "confirm": {fresh}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("second use: %d", r.StatusCode)
	}
}

func TestAccountPasswordChangeRefusals(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("viewer@example.com", app.RoleViewer)
	c := e.client()
	e.login(c, "viewer@example.com")
	cases := []struct {
		name          string
		current, next string
		confirm       string
		msg           string
	}{
		{"mismatch", testPassword, "viewer-new-passphrase-1", "other", "do not match"},
		{"wrong current", "wrong-current-password", "viewer-new-passphrase-1", "viewer-new-passphrase-1", "current password is incorrect"},
		{"weak", testPassword, "short", "short", "at least 12"},
		{"same", testPassword, testPassword, testPassword, "differ"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(c, "/account/password", url.Values{"current_password": {tc.current}, "new_password": {tc.next}, "confirm": {tc.confirm}})
			r = e.refused(t, c, r, "/account", tc.msg)
			if strings.Contains(r.body, tc.next) || strings.Contains(r.body, tc.current) {
				t.Error("a password was echoed back")
			}
		})
	}
	// A cross-site POST is refused before anything happens.
	r := e.post(c, "/account/password", url.Values{"current_password": {testPassword}, "new_password": {"viewer-new-passphrase-1"}, "confirm": {"viewer-new-passphrase-1"}},
		"Sec-Fetch-Site", "cross-site")
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site change: %d", r.StatusCode)
	}
	if _, err := e.svc.Login(context.Background(), app.LoginInput{Email: "viewer@example.com", Password: testPassword}); err != nil {
		t.Fatalf("password changed by a refused request: %v", err)
	}
	// The session cookie is re-issued (Secure, HttpOnly, SameSite) on success.
	r = e.post(c, "/account/password", url.Values{"current_password": {testPassword}, "new_password": {"viewer-new-passphrase-1"}, "confirm": {"viewer-new-passphrase-1"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
		t.Fatalf("change: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	ck := sessionCookie(t, r, "__Host-nexplane_session")
	if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v", ck)
	}
	requireContains(t, e.get(c, "/account"), "Your password was changed.")
}
