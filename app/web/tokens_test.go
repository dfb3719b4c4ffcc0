package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

var tokenInPage = regexp.MustCompile(`nxp_[0-9A-Za-z]{49}`)

// tokenGet calls the API beside the console with a bearer token.
func (e *env) tokenGet(path, token, userAgent string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", userAgent)
	return e.do(e.bareClient(), req).StatusCode
}

func TestConsoleOwnTokens(t *testing.T) {
	e := newEnv(t, envOpts{api: true})
	e.seedUser("ops@example.com", app.RoleOperator)
	c := e.client()
	e.login(c, "ops@example.com")

	r := e.get(c, "/account/tokens")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("tokens page: %d", r.StatusCode)
	}
	requireContains(t, r, `data-testid="nav-tokens"`, `data-testid="tokens-empty"`, `data-testid="token-create-form"`)
	// Only roles within the operator's are offered.
	if strings.Contains(r.body, `<option value="admin"`) || strings.Contains(r.body, `<option value="approver"`) ||
		!strings.Contains(r.body, `<option value="viewer"`) {
		t.Fatalf("role choices beyond the operator's: %s", r.body)
	}

	// A refused input keeps what was typed and says why.
	tooLate := e.clock.Now().Add(400 * 24 * time.Hour).Format("2006-01-02")
	r = e.post(c, "/account/tokens", url.Values{"name": {"laptop"}, "expires": {tooLate}, "role": {"operator"}})
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("too late: %d", r.StatusCode)
	}
	requireContains(t, r, `data-testid="token-create-error"`, "at most one year", `value="laptop"`)
	r = e.post(c, "/account/tokens", url.Values{"name": {"laptop"}, "role": {"admin"}})
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("above own role: %d", r.StatusCode)
	}
	if tokenInPage.MatchString(r.body) {
		t.Fatal("a refused create shows a token")
	}

	// Created: the POST redirects to the reveal page, which shows the
	// secret once.
	r = e.post(c, "/account/tokens", url.Values{"name": {"laptop"}, "role": {"viewer"}})
	if r.StatusCode != http.StatusSeeOther || tokenInPage.MatchString(r.body) {
		t.Fatalf("create: %d %s", r.StatusCode, r.body)
	}
	reveal := r.Header.Get("Location")
	r = e.get(c, reveal)
	requireContains(t, r, `data-testid="reveal-once"`, "<dt>Role</dt><dd>viewer</dd>", `data-testid="copy-reveal-secret"`,
		`href="/account/tokens" data-testid="reveal-back"`)
	secret := tokenInPage.FindString(r.body)
	if !app.LooksLikeAPIToken(secret) {
		t.Fatalf("no token on the page: %s", r.body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token page cacheable: %q", r.Header.Get("Cache-Control"))
	}

	// It works on the API, and the list shows its use, never the secret.
	if st := e.tokenGet("/api/v1/me", secret, "deploy-script/1.0"); st != http.StatusOK {
		t.Fatalf("token on the API: %d", st)
	}
	if r := e.get(c, reveal); r.StatusCode != http.StatusGone || strings.Contains(r.body, secret) {
		t.Fatalf("reveal page reloaded: %d", r.StatusCode)
	}
	r = e.get(c, "/account/tokens")
	if strings.Contains(r.body, secret) {
		t.Fatal("the list shows the secret again")
	}
	requireContains(t, r, `data-token-name="laptop"`, `data-testid="token-status">active<`, "127.0.0.1", "deploy-script/1.0")

	// A cross-site form post is refused (CSRF).
	tok, _ := e.db.ListAPITokens(context.Background(), mustUserID(t, e, "ops@example.com"))
	revoke := "/account/tokens/" + strconv.FormatInt(tok[0].ID, 10) + "/revoke"
	if r := e.post(c, revoke, nil, "Sec-Fetch-Site", "cross-site"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site revoke: %d", r.StatusCode)
	}
	if st := e.tokenGet("/api/v1/me", secret, "x"); st != http.StatusOK {
		t.Fatal("cross-site post revoked the token")
	}
	// End it: refused from the next request on.
	r = e.post(c, revoke, nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/tokens" {
		t.Fatalf("revoke: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if st := e.tokenGet("/api/v1/me", secret, "x"); st != http.StatusUnauthorized {
		t.Fatalf("ended token on the API: %d", st)
	}
	r = e.get(c, "/account/tokens")
	requireContains(t, r, `data-testid="flash"`, "laptop ended", `data-testid="token-status">revoked<`)
	if strings.Contains(r.body, `data-testid="token-revoke"`) {
		t.Fatal("a revoked token still offers End")
	}
}

func mustUserID(t *testing.T, e *env, email string) int64 {
	t.Helper()
	u, err := e.db.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func TestConsoleAdminTokensAndServiceAccounts(t *testing.T) {
	e := newEnv(t, envOpts{api: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("ops@example.com", app.RoleOperator)
	admin, ops := e.client(), e.client()
	e.login(admin, "admin@example.com")
	e.login(ops, "ops@example.com")

	// Non-admins reach neither service accounts nor others' tokens.
	adminID := mustUserID(t, e, "admin@example.com")
	if r := e.get(ops, "/service-accounts"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("operator on service accounts: %d", r.StatusCode)
	}
	if r := e.get(ops, "/users/"+strconv.FormatInt(adminID, 10)+"/tokens"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("operator on another's tokens: %d", r.StatusCode)
	}
	if r := e.post(ops, "/service-accounts", url.Values{"name": {"x"}, "role": {"viewer"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("operator creates a service account: %d", r.StatusCode)
	}

	// An operator's token, ended by an admin from the user's tokens page.
	r := e.post(ops, "/account/tokens", url.Values{"name": {"ops-cli"}, "role": {"operator"}})
	opsSecret := tokenInPage.FindString(r.body)
	opsID := strconv.FormatInt(mustUserID(t, e, "ops@example.com"), 10)
	requireContains(t, e.get(admin, "/users"), `href="/users/`+opsID+`/tokens"`)
	r = e.get(admin, "/users/"+opsID+"/tokens")
	requireContains(t, r, `data-token-name="ops-cli"`, `data-testid="token-revoke"`)
	if strings.Contains(r.body, `data-testid="token-create-form"`) {
		t.Fatal("an admin is offered to create a person's token")
	}
	list, _ := e.db.ListAPITokens(context.Background(), mustUserID(t, e, "ops@example.com"))
	r = e.post(admin, "/users/"+opsID+"/tokens/"+strconv.FormatInt(list[0].ID, 10)+"/revoke", nil)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin ends a token: %d", r.StatusCode)
	}
	if st := e.tokenGet("/api/v1/me", opsSecret, "x"); st != http.StatusUnauthorized {
		t.Fatalf("token ended by an admin: %d", st)
	}

	// Service accounts: create, then a token for it shown once.
	r = e.post(admin, "/service-accounts", url.Values{"name": {"bad name"}, "role": {"viewer"}})
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad name: %d", r.StatusCode)
	}
	requireContains(t, r, `data-testid="sa-create-error"`, `value="bad name"`)
	r = e.post(admin, "/service-accounts", url.Values{"name": {"deploy-bot"}, "role": {"operator"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create service account: %d %s", r.StatusCode, r.body)
	}
	page := r.Header.Get("Location")
	r = e.get(admin, page)
	requireContains(t, r, "Service account deploy-bot", `data-testid="flash"`, `data-testid="token-create-form"`)
	if strings.Contains(r.body, `<option value="admin"`) {
		t.Fatal("admin role offered for an operator service account's token")
	}
	requireContains(t, e.get(admin, "/service-accounts"), `data-sa-name="deploy-bot"`)
	r = e.follow(admin, e.post(admin, page, url.Values{"name": {"ci"}, "role": {"operator"}}))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("service account token: %d %s", r.StatusCode, r.body)
	}
	secret := tokenInPage.FindString(r.body)
	if st := e.tokenGet("/api/v1/me", secret, "ci/1"); st != http.StatusOK {
		t.Fatalf("service account token on the API: %d", st)
	}
	// It cannot log in to the console.
	if r := e.post(e.client(), "/login", url.Values{"email": {"deploy-bot"}, "password": {testPassword}}); r.StatusCode == http.StatusSeeOther {
		t.Fatalf("service account logged in: %s", r.Header.Get("Location"))
	}
}
