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

// newPasswordEnv is the API on a chosen driver with a manual clock.
func newPasswordEnv(t *testing.T, driver string) *testEnv {
	t.Helper()
	return newTestEnvWith(t, testkit.Options{Clock: testkit.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)), Driver: driver}, nil)
}

// linkToken returns the token of a link URL under srv with prefix.
func (e *testEnv) linkToken(u, prefix string) string {
	e.t.Helper()
	if !strings.HasPrefix(u, e.srv.URL+prefix) {
		e.t.Fatalf("link %q does not start with %s%s", u, e.srv.URL, prefix)
	}
	return strings.TrimPrefix(u, e.srv.URL+prefix)
}

func (e *testEnv) accept(token string, purpose app.LinkPurpose, password string) (*app.LoginResult, error) {
	return e.svc.AcceptPasswordLink(context.Background(), app.AcceptLinkInput{Token: token, Purpose: purpose, Password: password, ClientAddr: "192.0.2.7"})
}

// auditOf returns the audit records of event, oldest first, as JSON text.
func (e *testEnv) auditOf(event string) []string {
	e.t.Helper()
	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Event: event, Limit: app.MaxAuditLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, string(evs[i].Payload))
	}
	return out
}

func TestInvitationLinkAPI(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newPasswordEnv(t, driver)
		admin := e.mkUser("admin@example.com", app.RoleAdmin)
		tok := e.login(admin.Email)

		st, raw := e.doRaw("POST", "/api/v1/users", tok, map[string]string{"email": "New@Example.com", "role": "operator"}, nil)
		var created map[string]any
		if err := json.Unmarshal(raw, &created); err != nil || st != http.StatusCreated {
			t.Fatalf("create: %d %s", st, raw)
		}
		if created["email"] != "new@example.com" || created["role"] != "operator" || created["invitation_expires_at"] != "2026-03-04T09:00:00.000Z" {
			t.Errorf("create answer = %v", created)
		}
		if strings.Contains(string(raw), "password") {
			t.Errorf("create answer mentions a password: %s", raw)
		}
		inviteURL, _ := created["invitation_url"].(string)
		token := e.linkToken(inviteURL, "/invite/")
		if len(token) != 43 {
			t.Errorf("token %q is not 32 random bytes in base64url", token)
		}
		// The stored row is the token's hash, never the token.
		for _, p := range e.auditOf("user.invited") {
			if strings.Contains(p, token) {
				t.Errorf("audit payload holds the token: %s", p)
			}
		}
		if got := e.auditOf("user.invited"); len(got) != 1 || !strings.Contains(got[0], "new@example.com") {
			t.Errorf("user.invited records = %v", got)
		}
		// A pending invitation cannot log in: there is no password yet.
		if st, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "new@example.com", "password": ""}); st != 400 {
			t.Errorf("login without password: %d %v", st, body)
		}
		if st, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "new@example.com", "password": testPassword}); st != 401 {
			t.Errorf("login of an invited user: %d %v", st, body)
		}
		if got := e.auditOf("auth.login_failed"); len(got) != 1 || !strings.Contains(got[0], "invitation_pending") {
			t.Errorf("login_failed records = %v", got)
		}

		// The link is good until just before 72 h, for the right purpose only.
		e.clock.Advance(app.InvitationTTL - time.Millisecond)
		if _, err := e.svc.PasswordLinkInfo(context.Background(), token, app.LinkReset); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("invitation used as reset link: %v", err)
		}
		info, err := e.svc.PasswordLinkInfo(context.Background(), token, app.LinkInvite)
		if err != nil || info.Email != "new@example.com" {
			t.Fatalf("PasswordLinkInfo = %+v, %v", info, err)
		}
		if _, err := e.accept(token, app.LinkInvite, "short"); app.ErrCode(err) != app.EINVALID {
			t.Errorf("weak password accepted: %v", err)
		}
		res, err := e.accept(token, app.LinkInvite, "my-own-chosen-passphrase-9")
		if err != nil || res.SessionToken == "" || res.User.Email != "new@example.com" {
			t.Fatalf("accept = %+v, %v", res, err)
		}
		if got := e.auditOf("user.invitation_accepted"); len(got) != 1 || strings.Contains(got[0], "passphrase") {
			t.Errorf("invitation_accepted records = %v", got)
		}
		// Single use.
		if _, err := e.accept(token, app.LinkInvite, "another-chosen-passphrase-9"); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("second use of the invitation: %v", err)
		}
		if st, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "new@example.com", "password": "my-own-chosen-passphrase-9"}); st != 200 {
			t.Errorf("login with the chosen password: %d %v", st, body)
		}

		// An invitation is dead at 72 h.
		tok = e.login(admin.Email) // the first token expired meanwhile
		st, late := e.do("POST", "/api/v1/users", tok, map[string]string{"email": "late@example.com", "role": "viewer"})
		if st != 201 {
			t.Fatalf("create late: %d %v", st, late)
		}
		lateToken := e.linkToken(late["invitation_url"].(string), "/invite/")
		e.clock.Advance(app.InvitationTTL)
		if _, err := e.accept(lateToken, app.LinkInvite, "my-own-chosen-passphrase-9"); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("expired invitation accepted: %v", err)
		}
		// The admin sends a new one (reset on a user without a password is
		// a new invitation).
		st, again := e.do("POST", fmt.Sprintf("/api/v1/users/%d/reset-password", int64(late["id"].(float64))), e.login(admin.Email), nil)
		if st != 200 {
			t.Fatalf("new invitation: %d %v", st, again)
		}
		if _, err := e.accept(e.linkToken(again["reset_url"].(string), "/invite/"), app.LinkInvite, "my-own-chosen-passphrase-9"); err != nil {
			t.Errorf("fresh invitation: %v", err)
		}
	})
}

func TestResetLinkAPI(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newPasswordEnv(t, driver)
		admin := e.mkUser("admin@example.com", app.RoleAdmin)
		user := e.mkUser("forgetful@example.com", app.RoleOperator)
		adminTok := e.login(admin.Email)
		userTok := e.login(user.Email)
		path := fmt.Sprintf("/api/v1/users/%d/reset-password", user.ID)

		if st, body := e.do("POST", path, userTok, nil); st != 403 {
			t.Errorf("reset by a non-admin: %d %v", st, body)
		}
		st, first := e.do("POST", path, adminTok, nil)
		if st != 200 || first["expires_at"] != "2026-03-02T09:00:00.000Z" {
			t.Fatalf("reset: %d %v", st, first)
		}
		firstToken := e.linkToken(first["reset_url"].(string), "/reset/")
		// A second request replaces the first link.
		st, second := e.do("POST", path, adminTok, nil)
		if st != 200 {
			t.Fatalf("second reset: %d %v", st, second)
		}
		token := e.linkToken(second["reset_url"].(string), "/reset/")
		if _, err := e.accept(firstToken, app.LinkReset, "brand-new-passphrase-77"); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("replaced link accepted: %v", err)
		}
		if got := e.auditOf("user.password_reset_requested"); len(got) != 2 {
			t.Errorf("password_reset_requested records = %v", got)
		}
		// Until the link is used the old password works.
		if st, _ := e.do("GET", "/api/v1/me", userTok, nil); st != 200 {
			t.Errorf("token before the reset: %d", st)
		}
		e.clock.Advance(app.ResetLinkTTL - time.Second)
		if _, err := e.accept(token, app.LinkInvite, "brand-new-passphrase-77"); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("reset link used as invitation: %v", err)
		}
		if _, err := e.accept(token, app.LinkReset, "brand-new-passphrase-77"); err != nil {
			t.Fatalf("accept reset: %v", err)
		}
		// Using it ends the user's tokens and sets the password.
		if st, _ := e.do("GET", "/api/v1/me", userTok, nil); st != 401 {
			t.Errorf("old token after the reset: %d", st)
		}
		if st, _ := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": user.Email, "password": testPassword}); st != 401 {
			t.Errorf("old password after the reset: %d", st)
		}
		if st, _ := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": user.Email, "password": "brand-new-passphrase-77"}); st != 200 {
			t.Errorf("new password after the reset: %d", st)
		}
		if got := e.auditOf("user.password_changed"); len(got) != 1 || !strings.Contains(got[0], "reset_link") {
			t.Errorf("password_changed records = %v", got)
		}
		// Reset links live 24 h.
		_, third := e.do("POST", path, e.login(admin.Email), nil)
		e.clock.Advance(app.ResetLinkTTL)
		if _, err := e.accept(e.linkToken(third["reset_url"].(string), "/reset/"), app.LinkReset, "yet-another-passphrase-5"); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("expired reset link accepted: %v", err)
		}
	})
}

func TestSelfServicePasswordChange(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newPasswordEnv(t, driver)
		user := e.mkUser("self@example.com", app.RoleViewer)
		tok1, tok2 := e.login(user.Email), e.login(user.Email)
		pat := e.mkToken(tok2, map[string]any{"name": "script"})["token"].(string)
		console, err := e.svc.Login(context.Background(), app.LoginInput{Email: user.Email, Password: testPassword, ClientAddr: "192.0.2.9", Console: true})
		if err != nil {
			t.Fatal(err)
		}
		if st, body := e.do("POST", "/api/v1/auth/password", "", map[string]string{"current_password": testPassword, "new_password": "fresh-passphrase-for-me-1"}); st != 401 {
			t.Errorf("change without a token: %d %v", st, body)
		}
		st, raw := e.doRaw("POST", "/api/v1/auth/password", tok1, map[string]string{"current_password": testPassword, "new_password": "fresh-passphrase-for-me-1"}, nil)
		var res map[string]any
		if err := json.Unmarshal(raw, &res); err != nil || st != 200 {
			t.Fatalf("change: %d %s", st, raw)
		}
		if strings.Contains(string(raw), "fresh-passphrase") {
			t.Errorf("answer echoes the password: %s", raw)
		}
		// Every earlier token and session ended; the new token works.
		for i, tok := range []string{tok1, tok2, pat} {
			if st, _ := e.do("GET", "/api/v1/me", tok, nil); st != 401 {
				t.Errorf("token %d after the change: %d", i+1, st)
			}
		}
		if _, _, err := e.svc.ResolveSession(context.Background(), console.SessionToken); app.ErrCode(err) != app.EUNAUTHORIZED {
			t.Errorf("console session after the change: %v", err)
		}
		if st, _ := e.do("GET", "/api/v1/me", res["token"].(string), nil); st != 200 {
			t.Errorf("new token: %d", st)
		}
		if st, _ := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": user.Email, "password": "fresh-passphrase-for-me-1"}); st != 200 {
			t.Errorf("login with the new password: %d", st)
		}
		if got := e.auditOf("user.password_changed"); len(got) != 1 || !strings.Contains(got[0], `"via":"self"`) || strings.Contains(got[0], "fresh-passphrase") {
			t.Errorf("password_changed records = %v", got)
		}
	})
}

func TestSelfServiceWrongCurrentPasswordIsThrottled(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newPasswordEnv(t, driver)
		user := e.mkUser("guess@example.com", app.RoleViewer)
		tok := e.login(user.Email)
		wrong := map[string]string{"current_password": "not-my-password-at-all", "new_password": "fresh-passphrase-for-me-1"}
		for i := range app.DefaultPairMaxFailures {
			st, body := e.do("POST", "/api/v1/auth/password", tok, wrong)
			if st != 403 || !strings.Contains(errMessage(body), "current password is incorrect") {
				t.Fatalf("wrong current password, try %d: %d %v", i+1, st, body)
			}
		}
		if got := e.auditOf("user.password_change_failed"); len(got) != app.DefaultPairMaxFailures || strings.Contains(got[0], "not-my-password") {
			t.Errorf("password_change_failed records = %d: %v", len(got), got)
		}
		// Now even the right password waits.
		st, raw := e.doRaw("POST", "/api/v1/auth/password", tok, map[string]string{"current_password": testPassword, "new_password": "fresh-passphrase-for-me-1"}, nil)
		if st != 429 || !strings.Contains(string(raw), "rate_limited") {
			t.Fatalf("after %d failures: %d %s", app.DefaultPairMaxFailures, st, raw)
		}
		// The password did not change and the token still works.
		if st, _ := e.do("GET", "/api/v1/me", tok, nil); st != 200 {
			t.Errorf("token after refused changes: %d", st)
		}
		e.clock.Advance(app.DefaultPairWindow + time.Second)
		if st, body := e.do("POST", "/api/v1/auth/password", tok, map[string]string{"current_password": testPassword, "new_password": "fresh-passphrase-for-me-1"}); st != 200 {
			t.Errorf("after the window: %d %v", st, body)
		}
	})
}
