package api_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store/storetest"
)

// onBothDrivers runs fn on SQLite, and on PostgreSQL when
// NEXPLANE_TEST_POSTGRES_URL is set (failing without it under
// NEXPLANE_REQUIRE_INTEGRATION=1): testkit opens PostgreSQL whenever the
// URL is set, so the SQLite run hides it.
func onBothDrivers(t *testing.T, fn func(t *testing.T)) {
	pg := os.Getenv(storetest.EnvTestPostgresURL)
	t.Run("sqlite", func(t *testing.T) {
		t.Setenv(storetest.EnvTestPostgresURL, "")
		fn(t)
	})
	if pg == "" {
		if os.Getenv(storetest.EnvRequireIntegration) == "1" {
			t.Fatalf("postgres: %s not set and %s=1", storetest.EnvTestPostgresURL, storetest.EnvRequireIntegration)
		}
		t.Logf("SKIP postgres: %s not set", storetest.EnvTestPostgresURL)
		return
	}
	t.Run("postgres", fn)
}

// mfaEpoch starts each test at the beginning of a TOTP time step.
var mfaEpoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// enrolTOTP sets up TOTP for u through the service and returns the secret
// and the recovery codes. The confirming code uses the clock's current step.
func enrolTOTP(t *testing.T, svc *app.Service, clock *testkit.Clock, u *app.User) (string, []string) {
	t.Helper()
	ctx := context.Background()
	enr, err := svc.BeginTOTPEnrollment(ctx, app.UserActor(u))
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(enr.Secret, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes, err := svc.ConfirmTOTPEnrollment(ctx, app.UserActor(u), code)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != app.RecoveryCodeCount {
		t.Fatalf("%d recovery codes, want %d", len(codes), app.RecoveryCodeCount)
	}
	return enr.Secret, codes
}

func (e *testEnv) auditEvents(event string) []app.AuditEvent {
	e.t.Helper()
	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Event: event, Limit: app.MaxAuditLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// mfaStart logs in with the password and returns the mfa_token.
func (e *testEnv) mfaStart(email string) string {
	e.t.Helper()
	st, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": testPassword})
	if st != http.StatusOK || body["mfa_required"] != true || body["token"] != nil {
		e.t.Fatalf("password step: %d %v", st, body)
	}
	tok, _ := body["mfa_token"].(string)
	if tok == "" {
		e.t.Fatalf("no mfa_token: %v", body)
	}
	return tok
}

func (e *testEnv) mfaFinish(tok, code string) (int, map[string]any) {
	e.t.Helper()
	return e.do("POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": tok, "code": code})
}

func TestAPIMFALogin(t *testing.T) {
	onBothDrivers(t, func(t *testing.T) {
		clock := testkit.NewClock(mfaEpoch)
		e := newTestEnvWith(t, testkit.Options{Clock: clock}, nil)
		u := e.mkUser("alice@example.com", app.RoleOperator)
		secret, recovery := enrolTOTP(t, e.svc, clock, u)
		codeNow := func() string {
			c, err := totp.GenerateCode(secret, clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		if n := len(e.auditEvents("mfa.enrolled")); n != 1 {
			t.Fatalf("mfa.enrolled records: %d", n)
		}

		// The code that confirmed enrolment is spent for its window.
		tok := e.mfaStart(u.Email)
		if st, body := e.mfaFinish(tok, codeNow()); st != http.StatusUnauthorized {
			t.Fatalf("code reused in the same window: %d %v", st, body)
		}
		// The mfa_token is no API token.
		if st, _ := e.do("GET", "/api/v1/me", tok, nil); st != http.StatusUnauthorized {
			t.Fatalf("mfa_token as bearer: %d", st)
		}
		// A wrong code is refused and recorded; the token survives it.
		if st, body := e.mfaFinish(tok, "000000"); st != http.StatusUnauthorized || errCode(body) != "unauthorized" {
			t.Fatalf("wrong code: %d %v", st, body)
		}
		if n := len(e.auditEvents("auth.login_failed")); n < 2 {
			t.Errorf("wrong codes not recorded: %d auth.login_failed", n)
		}
		clock.Advance(30 * time.Second)
		code := codeNow()
		st, body := e.mfaFinish(tok, code)
		if st != http.StatusOK || body["token"] == nil || body["expires_at"] == nil {
			t.Fatalf("right code: %d %v", st, body)
		}
		if st, me := e.do("GET", "/api/v1/me", body["token"].(string), nil); st != http.StatusOK {
			t.Fatalf("me with the token: %d %v", st, me)
		}
		// Single use: the token is spent.
		clock.Advance(30 * time.Second)
		if st, body := e.mfaFinish(tok, codeNow()); st != http.StatusUnauthorized {
			t.Fatalf("token reused: %d %v", st, body)
		}
		// A new login cannot replay the code either (same window as used).
		tok2 := e.mfaStart(u.Email)
		if st, _ := e.mfaFinish(tok2, code); st != http.StatusUnauthorized {
			t.Fatalf("replayed code: %d", st)
		}

		// Expiry on the injected clock.
		tok3 := e.mfaStart(u.Email)
		clock.Advance(app.MFAChallengeTTL + time.Second)
		if st, body := e.mfaFinish(tok3, codeNow()); st != http.StatusUnauthorized {
			t.Fatalf("expired token: %d %v", st, body)
		}

		// A recovery code works once, and is recorded.
		tok4 := e.mfaStart(u.Email)
		if st, body := e.mfaFinish(tok4, recovery[0]); st != http.StatusOK || body["token"] == nil {
			t.Fatalf("recovery code: %d %v", st, body)
		}
		tok5 := e.mfaStart(u.Email)
		if st, _ := e.mfaFinish(tok5, recovery[0]); st != http.StatusUnauthorized {
			t.Fatalf("recovery code reused: %d", st)
		}
		if st, _ := e.mfaFinish(tok5, recovery[1]); st != http.StatusOK {
			t.Fatalf("second recovery code: %d", st)
		}
		used := e.auditEvents("mfa.recovery_code_used")
		if len(used) != 2 {
			t.Fatalf("mfa.recovery_code_used records: %d", len(used))
		}
		for _, ev := range used {
			for _, rc := range recovery {
				if strings.Contains(string(ev.Payload), rc) {
					t.Fatalf("recovery code in the audit payload: %s", ev.Payload)
				}
			}
		}
		if len(e.auditEvents("auth.login_succeeded")) != 3 {
			t.Errorf("want 3 recorded successful logins")
		}

		// Bad input.
		for _, b := range []any{`{}`, `{"mfa_token":"x"}`, `{"mfa_token":"x","code":"1","extra":1}`, `nope`} {
			if st, body := e.do("POST", "/api/v1/auth/mfa", "", b); st != http.StatusBadRequest || errCode(body) != "invalid" {
				t.Errorf("body %v: %d %v", b, st, body)
			}
		}
	})
}

func TestAPIMFAWrongCodesAreThrottled(t *testing.T) {
	onBothDrivers(t, func(t *testing.T) {
		clock := testkit.NewClock(mfaEpoch)
		e := newTestEnvWith(t, testkit.Options{Clock: clock}, nil)
		u := e.mkUser("bob@example.com", app.RoleViewer)
		secret, _ := enrolTOTP(t, e.svc, clock, u)
		clock.Advance(30 * time.Second)
		tok := e.mfaStart(u.Email)
		for i := range app.DefaultPairMaxFailures {
			if st, body := e.mfaFinish(tok, "123456"); st != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d %v", i, st, body)
			}
		}
		// A fresh password step does not reset the code limit.
		tok = e.mfaStart(u.Email)
		code, _ := totp.GenerateCode(secret, clock.Now())
		st, body := e.mfaFinish(tok, code)
		if st != http.StatusTooManyRequests || errCode(body) != "rate_limited" {
			t.Fatalf("right code while throttled: %d %v", st, body)
		}
		// Clearing the user's throttling (CLI unlock) lets them in.
		if _, err := e.svc.ClearLoginThrottle(context.Background(), app.SystemActor("test"), u.Email); err != nil {
			t.Fatal(err)
		}
		if st, body := e.mfaFinish(tok, code); st != http.StatusOK {
			t.Fatalf("after unlock: %d %v", st, body)
		}
	})
}

func TestAPIMFAPolicy(t *testing.T) {
	onBothDrivers(t, func(t *testing.T) {
		clock := testkit.NewClock(mfaEpoch)
		e := newTestEnvWith(t, testkit.Options{Clock: clock}, nil)
		admin := e.mkUser("root@example.com", app.RoleAdmin)
		op := e.mkUser("op@example.com", app.RoleOperator)
		adminTok := e.login(admin.Email)
		opTok := e.login(op.Email)

		if st, body := e.do("GET", "/api/v1/settings", adminTok, nil); st != http.StatusOK || body["mfa_required"] != "off" {
			t.Fatalf("settings: %d %v", st, body)
		}
		before := e.counts()
		for _, tc := range []struct {
			tok  string
			body any
			st   int
			code string
		}{
			{opTok, map[string]string{"mfa_required": "everyone"}, http.StatusForbidden, "forbidden"},
			{adminTok, map[string]string{"mfa_required": "sometimes"}, http.StatusBadRequest, "invalid"},
			{adminTok, `{}`, http.StatusBadRequest, "invalid"},
			{adminTok, `{"mfa_required":"admins","x":1}`, http.StatusBadRequest, "invalid"},
		} {
			if st, body := e.do("PATCH", "/api/v1/settings", tc.tok, tc.body); st != tc.st || errCode(body) != tc.code {
				t.Errorf("PATCH %v: %d %v, want %d %s", tc.body, st, body, tc.st, tc.code)
			}
		}
		if st, _ := e.do("GET", "/api/v1/settings", opTok, nil); st != http.StatusForbidden {
			t.Errorf("operator reads settings: %d", st)
		}
		if e.counts() != before {
			t.Fatal("refused settings changes wrote something")
		}

		if st, body := e.do("PATCH", "/api/v1/settings", adminTok, map[string]string{"mfa_required": "admins"}); st != http.StatusOK || body["mfa_required"] != "admins" {
			t.Fatalf("set admins: %d %v", st, body)
		}
		if n := len(e.auditEvents("settings.changed")); n != 1 {
			t.Errorf("settings.changed records: %d", n)
		}
		login := func(email string) (int, map[string]any) {
			return e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": testPassword})
		}
		if st, body := login(admin.Email); st != http.StatusForbidden || errCode(body) != "mfa_enrollment_required" || body["token"] != nil {
			t.Fatalf("admin without MFA under admins: %d %v", st, body)
		}
		if st, body := login(op.Email); st != http.StatusOK || body["token"] == nil {
			t.Fatalf("operator under admins: %d %v", st, body)
		}
		if _, err := e.svc.SetMFAPolicy(context.Background(), app.SystemActor("test"), "everyone"); err != nil {
			t.Fatal(err)
		}
		if st, body := login(op.Email); st != http.StatusForbidden || errCode(body) != "mfa_enrollment_required" {
			t.Fatalf("operator under everyone: %d %v", st, body)
		}
		// Once enrolled, the second step is asked for instead.
		enrolTOTP(t, e.svc, clock, op)
		e.mfaStart(op.Email)
		// The policy forbids turning MFA off.
		err := e.svc.DisableMFA(context.Background(), app.UserActor(op), testPassword, "123456")
		if app.ErrCode(err) != app.EFORBIDDEN {
			t.Errorf("disable under everyone: %v", err)
		}
	})
}

// TestAPIMFATokenRace: two requests racing with one mfa_token and one code
// get one API token between them.
func TestAPIMFATokenRace(t *testing.T) {
	onBothDrivers(t, func(t *testing.T) {
		clock := testkit.NewClock(mfaEpoch)
		e := newTestEnvWith(t, testkit.Options{Clock: clock}, nil)
		u := e.mkUser("race@example.com", app.RoleViewer)
		secret, _ := enrolTOTP(t, e.svc, clock, u)
		clock.Advance(30 * time.Second)
		tok := e.mfaStart(u.Email)
		code, _ := totp.GenerateCode(secret, clock.Now())
		results := make(chan int, 4)
		for range 4 {
			go func() {
				st, _ := e.doRaw("POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": tok, "code": code}, nil)
				results <- st
			}()
		}
		ok := 0
		for range 4 {
			switch st := <-results; st {
			case http.StatusOK:
				ok++
			case http.StatusUnauthorized:
			default:
				t.Errorf("racing request: %d", st)
			}
		}
		if ok != 1 {
			t.Fatalf("%d requests logged in with one token, want 1", ok)
		}
	})
}
