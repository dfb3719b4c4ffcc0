package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// mkToken creates a personal access token with bearer auth and returns the
// response body (which holds the secret as "token").
func (e *testEnv) mkToken(auth string, body map[string]any) map[string]any {
	e.t.Helper()
	st, resp := e.do("POST", "/api/v1/tokens", auth, body)
	if st != http.StatusCreated {
		e.t.Fatalf("create token %v: %d %v", body, st, resp)
	}
	return resp
}

// newTokenEnv is the API on a frozen clock, so tests name exact instants.
func newTokenEnv(t testing.TB) *testEnv {
	return newTestEnvWith(t, testkit.Options{Clock: testkit.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))}, nil)
}

func idOf(body map[string]any) int64 { return int64(body["id"].(float64)) }

// newestAudit returns the newest audit record of event.
func (e *testEnv) newestAudit(event string) *app.AuditEvent {
	e.t.Helper()
	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Event: event, Limit: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(evs) == 0 {
		e.t.Fatalf("no audit record %s", event)
	}
	return &evs[0]
}

// assertNoSecretInAudit fails when any audit record holds secret.
func (e *testEnv) assertNoSecretInAudit(secret string) {
	e.t.Helper()
	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Limit: app.MaxAuditLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), secret) || strings.Contains(string(b), app.HashToken(secret)) {
			e.t.Fatalf("audit record %d (%s) holds the token or its hash", ev.ID, ev.Event)
		}
	}
}

func TestAPITokenCreateUseListRevoke(t *testing.T) {
	e := newTokenEnv(t)
	e.mkUser("op@example.com", app.RoleOperator)
	jwt := e.login("op@example.com")
	now := e.clock.Now()

	created := e.mkToken(jwt, map[string]any{"name": "ci laptop"})
	secret, _ := created["token"].(string)
	if !strings.HasPrefix(secret, "nxp_") || len(secret) != 53 || !app.LooksLikeAPIToken(secret) {
		t.Fatalf("token %q has not the nxp_ format", secret)
	}
	if created["role"] != "operator" || created["status"] != "active" || created["name"] != "ci laptop" {
		t.Fatalf("created token: %v", created)
	}
	exp, err := time.Parse(time.RFC3339, created["expires_at"].(string))
	if err != nil || exp.Sub(now) < 90*24*time.Hour-time.Second || exp.Sub(now) > 90*24*time.Hour+time.Second {
		t.Fatalf("default expiry %v, want 90 days after %v", created["expires_at"], now)
	}
	// Stored as its SHA-256 only.
	tok, _, err := e.db.APITokenByHash(context.Background(), app.HashToken(secret))
	if err != nil || tok.ID != idOf(created) {
		t.Fatalf("token not found by its hash: %v", err)
	}

	st, me := e.do("GET", "/api/v1/me", secret, nil)
	if tk, _ := me["token"].(map[string]any); st != http.StatusOK || me["email"] != "op@example.com" || me["role"] != "operator" ||
		tk["name"] != "ci laptop" || tk["id"] != float64(idOf(created)) {
		t.Fatalf("me with token: %d %v", st, me)
	}

	// The list never shows the secret.
	st, raw := e.doRaw("GET", "/api/v1/tokens", secret, nil, nil)
	if st != http.StatusOK || strings.Contains(string(raw), secret) || strings.Contains(string(raw), tok.Hash) ||
		!strings.Contains(string(raw), `"ci laptop"`) {
		t.Fatalf("list tokens: %d %s", st, raw)
	}

	// A token made with a token names it in its audit record.
	second := e.mkToken(secret, map[string]any{"name": "second", "role": "viewer"})
	ev := e.newestAudit("api_token.created")
	var p map[string]any
	_ = json.Unmarshal(ev.Payload, &p)
	via, _ := p["via_token"].(map[string]any)
	if ev.ResourceID != fmt.Sprint(idOf(second)) || via == nil || via["id"] != float64(idOf(created)) || via["name"] != "ci laptop" {
		t.Fatalf("audit of a token made with a token: %s %s", ev.ResourceID, ev.Payload)
	}

	// Revocation is effective on the next request.
	if st, body := e.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", idOf(created)), jwt, nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d %v", st, body)
	}
	st, body := e.do("GET", "/api/v1/me", secret, nil)
	if st != http.StatusUnauthorized || errCode(body) != "unauthorized" {
		t.Fatalf("revoked token: %d %v", st, body)
	}
	if ev := e.newestAudit("api_token.revoked"); ev.ResourceID != fmt.Sprint(idOf(created)) || ev.ActorEmail != "op@example.com" {
		t.Fatalf("revoke audit: %+v", ev)
	}
	// Revoking again changes nothing and is no error.
	if st, _ := e.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", idOf(created)), jwt, nil); st != http.StatusNoContent {
		t.Fatalf("revoke again: %d", st)
	}
	// The second token still works, with its own (lower) role.
	if st, me := e.do("GET", "/api/v1/me", second["token"].(string), nil); st != http.StatusOK || me["role"] != "viewer" {
		t.Fatalf("second token: %d %v", st, me)
	}
	e.assertNoSecretInAudit(secret)
	e.assertNoSecretInAudit(second["token"].(string))
}

func TestAPITokenRefusals(t *testing.T) {
	e := newTokenEnv(t)
	e.mkUser("op@example.com", app.RoleOperator)
	e.mkUser("op2@example.com", app.RoleOperator)
	e.mkUser("admin@example.com", app.RoleAdmin)
	jwt := e.login("op@example.com")
	now := e.clock.Now()
	before := e.counts()

	for _, tc := range []struct {
		name string
		body any
		code string
		want int
	}{
		{"no name", map[string]any{"name": " "}, "invalid", 400},
		{"unknown field", map[string]any{"name": "x", "scope": "all"}, "invalid", 400},
		{"bad time", map[string]any{"name": "x", "expires_at": "tomorrow"}, "invalid", 400},
		{"past", map[string]any{"name": "x", "expires_at": now.Add(-time.Minute).Format(time.RFC3339)}, "invalid", 400},
		{"over a year", map[string]any{"name": "x", "expires_at": now.Add(366 * 24 * time.Hour).Format(time.RFC3339)}, "invalid", 400},
		{"unknown role", map[string]any{"name": "x", "role": "root"}, "invalid", 400},
		{"above own role", map[string]any{"name": "x", "role": "admin"}, "forbidden", 403},
		{"beside own role", map[string]any{"name": "x", "role": "approver"}, "forbidden", 403},
		{"not json", "{", "invalid", 400},
	} {
		st, body := e.do("POST", "/api/v1/tokens", jwt, tc.body)
		if st != tc.want || errCode(body) != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, st, body, tc.want, tc.code)
		}
	}
	if after := e.counts(); after != before {
		t.Fatalf("refused requests wrote: %+v -> %+v", before, after)
	}
	// A year exactly is fine.
	e.mkToken(jwt, map[string]any{"name": "year", "expires_at": now.Add(365 * 24 * time.Hour).Format(time.RFC3339)})

	// Malformed, wrong checksum and unknown tokens: 401, the same answer.
	good := e.mkToken(jwt, map[string]any{"name": "good"})["token"].(string)
	flipped := good[:10] + string(rune(good[10]^1)) + good[11:]
	last := "x"
	if strings.HasSuffix(good, last) {
		last = "y"
	}
	for _, bad := range []string{"nxp_", "nxp_short", flipped, good[:len(good)-1] + last} {
		if st, body := e.do("GET", "/api/v1/me", bad, nil); st != 401 || errCode(body) != "unauthorized" {
			t.Errorf("token %q: %d %v", bad, st, body)
		}
	}
	// Someone else's token cannot be revoked or listed by a non-admin.
	other := e.mkToken(e.login("op2@example.com"), map[string]any{"name": "theirs"})
	if st, body := e.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", idOf(other)), jwt, nil); st != 404 || errCode(body) != "not_found" {
		t.Fatalf("revoke another's token: %d %v", st, body)
	}
	op2, _ := e.db.UserByEmail(context.Background(), "op2@example.com")
	if st, body := e.do("GET", fmt.Sprintf("/api/v1/users/%d/tokens", op2.ID), good, nil); st != 403 {
		t.Fatalf("list another's tokens: %d %v", st, body)
	}
	// An admin lists and revokes anyone's.
	admin := e.login("admin@example.com")
	st, raw := e.doRaw("GET", fmt.Sprintf("/api/v1/users/%d/tokens", op2.ID), admin, nil, nil)
	if st != 200 || !strings.Contains(string(raw), `"theirs"`) {
		t.Fatalf("admin lists op2's tokens: %d %s", st, raw)
	}
	if st, _ := e.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", idOf(other)), admin, nil); st != 204 {
		t.Fatalf("admin revokes: %d", st)
	}
	if st, _ := e.do("GET", "/api/v1/me", other["token"].(string), nil); st != 401 {
		t.Fatalf("token revoked by an admin still works: %d", st)
	}
}

func TestAPITokenExpiry(t *testing.T) {
	e := newTokenEnv(t)
	e.mkUser("op@example.com", app.RoleOperator)
	jwt := e.login("op@example.com")
	now := e.clock.Now()
	tok := e.mkToken(jwt, map[string]any{"name": "short", "expires_at": now.Add(2 * time.Hour).Format(time.RFC3339)})
	secret := tok["token"].(string)
	e.clock.Advance(2*time.Hour - time.Second)
	if st, _ := e.do("GET", "/api/v1/me", secret, nil); st != 200 {
		t.Fatalf("token before expiry: %d", st)
	}
	e.clock.Advance(time.Second)
	if st, body := e.do("GET", "/api/v1/me", secret, nil); st != 401 || errCode(body) != "unauthorized" {
		t.Fatalf("expired token: %d %v", st, body)
	}
	st, body := e.do("GET", "/api/v1/tokens", e.login("op@example.com"), nil)
	list, _ := body["tokens"].([]any)
	if st != 200 || len(list) != 1 || list[0].(map[string]any)["status"] != "expired" {
		t.Fatalf("list after expiry: %d %v", st, body)
	}
}

func TestAPITokenOwnerChanges(t *testing.T) {
	e := newTokenEnv(t)
	admin := func() string { return e.login("admin@example.com") }
	e.mkUser("admin@example.com", app.RoleAdmin)
	e.mkUser("boss@example.com", app.RoleAdmin)
	op := e.mkUser("op@example.com", app.RoleOperator)
	secret := e.mkToken(e.login("op@example.com"), map[string]any{"name": "t"})["token"].(string)

	// Disabling the owner disables its tokens on the next request.
	if st, body := e.do("PATCH", fmt.Sprintf("/api/v1/users/%d", op.ID), admin(), map[string]any{"disabled": true}); st != 200 {
		t.Fatalf("disable: %d %v", st, body)
	}
	if st, _ := e.do("GET", "/api/v1/me", secret, nil); st != 401 {
		t.Fatalf("token of a disabled owner: %d", st)
	}
	// Tokens do not hang on the session version: enabling brings it back.
	if st, _ := e.do("PATCH", fmt.Sprintf("/api/v1/users/%d", op.ID), admin(), map[string]any{"disabled": false}); st != 200 {
		t.Fatal("enable")
	}
	if st, _ := e.do("GET", "/api/v1/me", secret, nil); st != 200 {
		t.Fatalf("token after enabling its owner: %d", st)
	}

	// An admin token of an owner demoted below admin stops working.
	boss, _ := e.db.UserByEmail(context.Background(), "boss@example.com")
	bossTok := e.mkToken(e.login("boss@example.com"), map[string]any{"name": "boss"})["token"].(string)
	if st, me := e.do("GET", "/api/v1/me", bossTok, nil); st != 200 || me["role"] != "admin" {
		t.Fatalf("admin token: %d %v", st, me)
	}
	if st, _ := e.do("PATCH", fmt.Sprintf("/api/v1/users/%d", boss.ID), admin(), map[string]any{"role": "operator"}); st != 200 {
		t.Fatal("demote")
	}
	if st, _ := e.do("GET", "/api/v1/me", bossTok, nil); st != 401 {
		t.Fatalf("admin token of a demoted owner: %d", st)
	}

	// RevokeUserTokens (for password changes) ends every token at once.
	var n int64
	err := e.db.WithTx(context.Background(), func(tx app.Tx) error {
		var err error
		n, err = tx.RevokeUserTokens(context.Background(), op.ID, e.clock.Now())
		return err
	})
	if err != nil || n != 1 {
		t.Fatalf("RevokeUserTokens: %d %v", n, err)
	}
	if st, _ := e.do("GET", "/api/v1/me", secret, nil); st != 401 {
		t.Fatalf("token after RevokeUserTokens: %d", st)
	}
}

func TestAPITokenLastUsedThrottled(t *testing.T) {
	e := newTokenEnv(t)
	e.mkUser("op@example.com", app.RoleOperator)
	created := e.mkToken(e.login("op@example.com"), map[string]any{"name": "t"})
	secret := created["token"].(string)
	get := func() *app.APIToken {
		t.Helper()
		k, err := e.db.APITokenByID(context.Background(), idOf(created))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if !get().LastUsedAt.IsZero() {
		t.Fatal("a new token has a last use")
	}
	use := func(ua string) {
		t.Helper()
		if st, _ := e.doRaw("GET", "/api/v1/me", secret, nil, http.Header{"User-Agent": {ua}}); st != 200 {
			t.Fatalf("use: %d", st)
		}
	}
	t0 := e.clock.Now().Truncate(time.Millisecond)
	use("curl/8.0")
	k := get()
	if !k.LastUsedAt.Equal(t0) || k.LastUsedIP != "127.0.0.1" || k.LastUsedUserAgent != "curl/8.0" {
		t.Fatalf("first use: %v %q %q", k.LastUsedAt, k.LastUsedIP, k.LastUsedUserAgent)
	}
	e.clock.Advance(59 * time.Second)
	use("other/1")
	if k := get(); !k.LastUsedAt.Equal(t0) || k.LastUsedUserAgent != "curl/8.0" {
		t.Fatalf("use within the minute was written: %v %q", k.LastUsedAt, k.LastUsedUserAgent)
	}
	e.clock.Advance(time.Second)
	use("other/1")
	if k := get(); !k.LastUsedAt.Equal(t0.Add(time.Minute)) || k.LastUsedUserAgent != "other/1" {
		t.Fatalf("use after a minute not written: %v %q", k.LastUsedAt, k.LastUsedUserAgent)
	}
}

func TestServiceAccounts(t *testing.T) {
	e := newTokenEnv(t)
	e.mkUser("admin@example.com", app.RoleAdmin)
	e.mkUser("op@example.com", app.RoleOperator)
	admin := e.login("admin@example.com")

	if st, body := e.do("POST", "/api/v1/service-accounts", e.login("op@example.com"), map[string]any{"name": "ci", "role": "viewer"}); st != 403 {
		t.Fatalf("operator creates a service account: %d %v", st, body)
	}
	for _, bad := range []map[string]any{{"name": "ci@example.com", "role": "viewer"}, {"name": "", "role": "viewer"},
		{"name": "ci", "role": "god"}} {
		if st, body := e.do("POST", "/api/v1/service-accounts", admin, bad); st != 400 || errCode(body) != "invalid" {
			t.Errorf("service account %v: %d %v", bad, st, body)
		}
	}
	st, sa := e.do("POST", "/api/v1/service-accounts", admin, map[string]any{"name": "CI-Bot", "role": "operator"})
	if st != 201 || sa["name"] != "ci-bot" || sa["role"] != "operator" {
		t.Fatalf("create service account: %d %v", st, sa)
	}
	if st, body := e.do("POST", "/api/v1/service-accounts", admin, map[string]any{"name": "ci-bot", "role": "viewer"}); st != 409 {
		t.Fatalf("duplicate: %d %v", st, body)
	}
	saID := idOf(sa)
	st, raw := e.doRaw("GET", "/api/v1/service-accounts", admin, nil, nil)
	if st != 200 || !strings.Contains(string(raw), `"ci-bot"`) || strings.Contains(string(raw), "op@example.com") {
		t.Fatalf("list service accounts: %d %s", st, raw)
	}

	// It cannot log in: no password works, and the answer is the usual one.
	for _, pw := range []string{"", testPassword, "x"} {
		if st, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "ci-bot", "password": pw}); st != 400 && st != 401 {
			t.Fatalf("service account login: %d %v", st, body)
		}
	}
	if ev := e.newestAudit("auth.login_failed"); !strings.Contains(string(ev.Payload), `"service_account"`) {
		t.Fatalf("login failure reason: %s", ev.Payload)
	}

	path := fmt.Sprintf("/api/v1/service-accounts/%d/tokens", saID)
	if st, body := e.do("POST", path, admin, map[string]any{"name": "deploy", "role": "admin"}); st != 403 || errCode(body) != "forbidden" {
		t.Fatalf("token above the account's role: %d %v", st, body)
	}
	if st, body := e.do("POST", fmt.Sprintf("/api/v1/service-accounts/%d/tokens", saID+1000), admin, map[string]any{"name": "x"}); st != 404 {
		t.Fatalf("token for no account: %d %v", st, body)
	}
	op, _ := e.db.UserByEmail(context.Background(), "op@example.com")
	if st, body := e.do("POST", fmt.Sprintf("/api/v1/service-accounts/%d/tokens", op.ID), admin, map[string]any{"name": "x"}); st != 404 {
		t.Fatalf("service-account token for a person: %d %v", st, body)
	}
	st, tok := e.do("POST", path, admin, map[string]any{"name": "deploy"})
	if st != 201 || tok["role"] != "operator" || tok["user_id"] != float64(saID) {
		t.Fatalf("service account token: %d %v", st, tok)
	}
	secret := tok["token"].(string)
	if st, me := e.do("GET", "/api/v1/me", secret, nil); st != 200 || me["email"] != "ci-bot" || me["role"] != "operator" {
		t.Fatalf("me as the service account: %d %v", st, me)
	}
	// It holds tokens only: it makes none itself.
	if st, body := e.do("POST", "/api/v1/tokens", secret, map[string]any{"name": "more"}); st != 403 {
		t.Fatalf("service account makes a token: %d %v", st, body)
	}
	st, raw = e.doRaw("GET", path, admin, nil, nil)
	if st != 200 || !strings.Contains(string(raw), `"deploy"`) || strings.Contains(string(raw), secret) {
		t.Fatalf("admin lists the account's tokens: %d %s", st, raw)
	}
	// Disabling the account ends its tokens.
	if st, body := e.do("PATCH", fmt.Sprintf("/api/v1/users/%d", saID), admin, map[string]any{"disabled": true}); st != 200 {
		t.Fatalf("disable service account: %d %v", st, body)
	}
	if st, _ := e.do("GET", "/api/v1/me", secret, nil); st != 401 {
		t.Fatalf("token of a disabled service account: %d", st)
	}
	e.assertNoSecretInAudit(secret)
}

// A service account creates and submits change requests like anyone, and
// like anyone never approves its own.
func TestServiceAccountCannotApproveItsOwnChange(t *testing.T) {
	e := newChangeEnv(t)
	st, sa := e.do("POST", "/api/v1/service-accounts", e.tokens["admin"], map[string]any{"name": "pipeline", "role": "admin"})
	if st != 201 {
		t.Fatalf("create service account: %d %v", st, sa)
	}
	st, tok := e.do("POST", fmt.Sprintf("/api/v1/service-accounts/%d/tokens", idOf(sa)), e.tokens["admin"], map[string]any{"name": "ci"})
	if st != 201 {
		t.Fatalf("token: %d %v", st, tok)
	}
	e.tokens["pipeline"] = tok["token"].(string)
	id := e.create("pipeline", op("ldap.user.disable", map[string]any{"uid": "bob"}))
	e.mustAction("pipeline", id, "submit", nil, "submitted")
	st, body := e.action("pipeline", id, "approve", map[string]any{"comment": "self"})
	if st != 403 || errCode(body) != "forbidden" {
		t.Fatalf("service account approves its own change: %d %v", st, body)
	}
	// The records of its actions name the token it used.
	ev := e.newestAudit("change.submitted")
	if ev.ActorEmail != "pipeline" || !strings.Contains(string(ev.Payload), `"via_token":{"id":`) {
		t.Fatalf("submit audit: %s %s", ev.ActorEmail, ev.Payload)
	}
	// Someone else approves it.
	e.mustAction("appr", id, "approve", map[string]any{"comment": "ok"}, "approved")
}
