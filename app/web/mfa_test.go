package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/nexplane/nexplane/app"
)

// enrol sets up TOTP for u through the service; it returns the secret.
func (e *env) enrol(u *app.User) string {
	e.t.Helper()
	ctx := context.Background()
	enr, err := e.svc.BeginTOTPEnrollment(ctx, app.UserActor(u))
	if err != nil {
		e.t.Fatal(err)
	}
	code, _ := totp.GenerateCode(enr.Secret, e.clock.Now())
	if _, err := e.svc.ConfirmTOTPEnrollment(ctx, app.UserActor(u), code); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second) // the confirming code is spent
	return enr.Secret
}

func TestMFAPolicyForcesEnrolment(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("op@example.com", app.RoleOperator)
	ac, oc := e.client(), e.client()
	e.login(ac, admin.Email)
	e.login(oc, "op@example.com")

	// The admin sets the policy on the settings page; others may not.
	if r := e.get(oc, "/settings"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("operator GET /settings: %d", r.StatusCode)
	}
	if r := e.post(oc, "/settings", url.Values{"mfa_required": {"everyone"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("operator POST /settings: %d", r.StatusCode)
	}
	if r := e.post(ac, "/settings", url.Values{"mfa_required": {"sometimes"}}); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad value: %d", r.StatusCode)
	} else {
		requireContains(t, r, "mfa_required must be off, admins or everyone")
	}
	if r := e.post(ac, "/settings", url.Values{"mfa_required": {"admins"}}, "Sec-Fetch-Site", "cross-site"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site settings change: %d", r.StatusCode)
	}
	if p, _ := e.svc.MFAPolicy(context.Background()); p != app.MFAOff {
		t.Fatalf("policy changed by a refused request: %s", p)
	}
	if r := e.post(ac, "/settings", url.Values{"mfa_required": {"admins"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("set admins: %d %s", r.StatusCode, r.body)
	}

	// The admin (covered, not enrolled) is held on the enrolment page.
	for _, p := range []string{"/", "/changes", "/users", "/settings"} {
		r := e.get(ac, p)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/mfa" {
			t.Errorf("admin GET %s: %d %q, want 303 to /account/mfa", p, r.StatusCode, r.Header.Get("Location"))
		}
	}
	if r := e.get(ac, "/changes", "HX-Request", "true"); r.Header.Get("HX-Redirect") != "/account/mfa" {
		t.Errorf("htmx request not redirected to enrolment: %d %v", r.StatusCode, r.Header)
	}
	r := e.get(ac, "/account/mfa")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("enrolment page: %d", r.StatusCode)
	}
	requireContains(t, r, `data-testid="mfa-must-enroll"`)
	// The operator is not covered by "admins".
	if r := e.get(oc, "/changes"); r.StatusCode != http.StatusOK {
		t.Errorf("operator under admins: %d", r.StatusCode)
	}

	// Enrolling frees the admin.
	if r := e.post(ac, "/account/mfa/enroll", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("start enrolment: %d", r.StatusCode)
	}
	r = e.get(ac, "/account/mfa")
	requireContains(t, r, `data-testid="mfa-qr"`, `src="data:image/png;base64,`)
	_, rest, _ := strings.Cut(r.body, `data-testid="mfa-secret">`)
	secret, _, _ := strings.Cut(rest, "<")
	code, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	r = e.follow(ac, e.post(ac, "/account/mfa/confirm", url.Values{"code": {code}}))
	if r.StatusCode != http.StatusOK || len(recoveryCodes(r)) != app.RecoveryCodeCount {
		t.Fatalf("confirm: %d %s", r.StatusCode, r.body)
	}
	requireContains(t, r, `data-testid="flash"`, "Two-factor authentication is on.", `data-testid="copy-reveal-codes"`)
	if r := e.get(ac, "/changes"); r.StatusCode != http.StatusOK {
		t.Fatalf("admin after enrolment: %d", r.StatusCode)
	}

	// "everyone" catches the operator at their next request.
	if _, err := e.svc.SetMFAPolicy(context.Background(), app.SystemActor("test"), "everyone"); err != nil {
		t.Fatal(err)
	}
	if r := e.get(oc, "/changes"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/mfa" {
		t.Errorf("operator under everyone: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestMFAConsoleLoginStep(t *testing.T) {
	e := newEnv(t, envOpts{})
	u := e.seedUser("eve@example.com", app.RoleViewer)
	secret := e.enrol(u)
	c := e.client()

	r := e.post(c, "/login", url.Values{"email": {u.Email}, "password": {testPassword}, "next": {"/changes"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login/mfa?next=%2Fchanges" {
		t.Fatalf("password step: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	var half *http.Cookie
	for _, ck := range r.Cookies() {
		switch ck.Name {
		case "__Host-nexplane_session":
			t.Fatal("a session cookie before the second factor")
		case "__Host-nexplane_mfa":
			half = ck
		}
	}
	if half == nil || !half.HttpOnly || !half.Secure || half.SameSite != http.SameSiteStrictMode || half.MaxAge <= 0 || half.MaxAge > 300 {
		t.Fatalf("half-login cookie: %+v", half)
	}
	// Half logged in is not logged in.
	requireLoggedOut(t, e.get(c, "/changes"))

	// Another browser (no cookie) has nothing to complete.
	other := e.client()
	if r := e.get(other, "/login/mfa"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("second step without the cookie: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	code, _ := totp.GenerateCode(secret, e.clock.Now())
	if r := e.post(other, "/login/mfa", url.Values{"code": {code}}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("code without the cookie: %d", r.StatusCode)
	}
	// A cross-site post of the form is refused.
	if r := e.post(c, "/login/mfa", url.Values{"code": {code}}, "Sec-Fetch-Site", "cross-site"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site second step: %d", r.StatusCode)
	}
	if r := e.get(c, "/login/mfa?next=%2Fchanges"); r.StatusCode != http.StatusOK {
		t.Fatalf("second step page: %d", r.StatusCode)
	} else {
		requireContains(t, r, `data-testid="mfa-login-form"`, `value="/changes"`)
	}
	if r := e.post(c, "/login/mfa", url.Values{"code": {"000000"}, "next": {"/changes"}}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", r.StatusCode)
	} else {
		requireContains(t, r, "incorrect")
	}
	r = e.post(c, "/login/mfa", url.Values{"code": {code}, "next": {"/changes"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/changes" {
		t.Fatalf("right code: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	sessionCookie(t, r, "__Host-nexplane_session")
	if r := e.get(c, "/changes"); r.StatusCode != http.StatusOK {
		t.Fatalf("after the second step: %d", r.StatusCode)
	}

	// The half-login expires with the injected clock.
	c2 := e.client()
	e.post(c2, "/login", url.Values{"email": {u.Email}, "password": {testPassword}})
	e.clock.Advance(app.MFAChallengeTTL + time.Second)
	code, _ = totp.GenerateCode(secret, e.clock.Now())
	if r := e.post(c2, "/login/mfa", url.Values{"code": {code}}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired half-login: %d", r.StatusCode)
	} else {
		requireContains(t, r, "log in again")
	}
}

func TestMFAAccountDisableAndRegenerate(t *testing.T) {
	e := newEnv(t, envOpts{})
	u := e.seedUser("dan@example.com", app.RoleApprover)
	secret := e.enrol(u)
	c := e.client()
	if r := e.post(c, "/login", url.Values{"email": {u.Email}, "password": {testPassword}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("password step: %d", r.StatusCode)
	}
	code, _ := totp.GenerateCode(secret, e.clock.Now())
	if r := e.post(c, "/login/mfa", url.Values{"code": {code}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	r := e.get(c, "/account/mfa")
	requireContains(t, r, "10 unused recovery codes left", `data-testid="mfa-disable-form"`)

	// The code that logged in is spent; the next window's works.
	e.refused(t, c, e.post(c, "/account/mfa/recovery-codes", url.Values{"code": {code}}), "/account/mfa", "incorrect or was already used")
	e.clock.Advance(30 * time.Second)
	code, _ = totp.GenerateCode(secret, e.clock.Now())
	r = e.follow(c, e.post(c, "/account/mfa/recovery-codes", url.Values{"code": {code}}))
	codes := recoveryCodes(r)
	if r.StatusCode != http.StatusOK || len(codes) != app.RecoveryCodeCount {
		t.Fatalf("regenerate: %d", r.StatusCode)
	}
	recovery := codes[0]

	// Disabling needs the password and a code.
	e.refused(t, c, e.post(c, "/account/mfa/disable", url.Values{"password": {"wrong password!"}, "code": {recovery}}), "/account/mfa",
		"The password is incorrect")
	e.refused(t, c, e.post(c, "/account/mfa/disable", url.Values{"password": {testPassword}, "code": {"999999"}}), "/account/mfa",
		"incorrect or was already used")
	if r := e.post(c, "/account/mfa/disable", url.Values{"password": {testPassword}, "code": {recovery}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", r.StatusCode, r.body)
	}
	r = e.get(c, "/account/mfa")
	requireContains(t, r, "Two-factor authentication is off", `data-testid="mfa-enroll-start"`)
	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Event: "mfa.disabled", Limit: 10})
	if err != nil || len(evs) != 1 {
		t.Fatalf("mfa.disabled records: %d %v", len(evs), err)
	}
	// Without MFA the password logs straight in again.
	e.login(e.client(), u.Email)
}

// TestMFAAccountCodesAreThrottled: a stolen session cannot guess codes on
// the account page either.
func TestMFAAccountCodesAreThrottled(t *testing.T) {
	e := newEnv(t, envOpts{})
	u := e.seedUser("guess@example.com", app.RoleViewer)
	secret := e.enrol(u)
	c := e.client()
	e.post(c, "/login", url.Values{"email": {u.Email}, "password": {testPassword}})
	code, _ := totp.GenerateCode(secret, e.clock.Now())
	if r := e.post(c, "/login/mfa", url.Values{"code": {code}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	for i := range app.DefaultPairMaxFailures {
		r := e.refused(t, c, e.post(c, "/account/mfa/recovery-codes", url.Values{"code": {"111111"}}), "/account/mfa")
		if strings.Contains(r.body, "Too many") {
			t.Fatalf("guess %d: throttled already", i)
		}
	}
	e.clock.Advance(30 * time.Second)
	code, _ = totp.GenerateCode(secret, e.clock.Now())
	e.refused(t, c, e.post(c, "/account/mfa/recovery-codes", url.Values{"code": {code}}), "/account/mfa", "Too many")
}

// recoveryCodes reads the codes off a reveal page.
func recoveryCodes(r response) []string {
	_, rest, _ := strings.Cut(r.body, `data-testid="reveal-codes">`)
	block, _, _ := strings.Cut(rest, "<")
	return strings.Fields(block)
}
