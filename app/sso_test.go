package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/nexplane/nexplane/app"
	ssooidc "github.com/nexplane/nexplane/app/sso/oidc"
	"github.com/nexplane/nexplane/app/sso/oidc/oidctest"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// ssoEnv is a service with the oidc type registered, a real OpenID
// provider in the process and one identity provider pointing at it.
type ssoEnv struct {
	t     *testing.T
	env   *testkit.Env
	svc   *app.Service
	op    *oidctest.Server
	admin app.Actor
	idp   *app.IdentityProvider
}

func newSSOEnv(t *testing.T, driver string, in app.IdentityProviderInput) *ssoEnv {
	t.Helper()
	env := testkit.NewService(t, testkit.Options{Driver: driver, Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) {
		ssooidc.Register(reg, nil)
	}})
	e := &ssoEnv{t: t, env: env, svc: env.Service, op: oidctest.Start(t)}
	e.admin = app.UserActor(testkit.MustCreateUser(t, e.svc, "admin@example.com", app.RoleAdmin))
	in.Name, in.Type = "Corporate SSO", ssooidc.Type
	in.Config = json.RawMessage(`{"issuer":"` + e.op.Issuer + `","client_id":"` + oidctest.ClientID + `"}`)
	in.Secrets = json.RawMessage(`{"client_secret":"` + oidctest.ClientSecret + `"}`)
	idp, err := e.svc.CreateIdentityProvider(t.Context(), e.admin, in)
	if err != nil {
		t.Fatalf("create identity provider: %v", err)
	}
	e.idp = idp
	return e
}

func (e *ssoEnv) callbackURL() string {
	return "https://127.0.0.1:1/login/sso/" + strconv.FormatInt(e.idp.ID, 10) + "/callback"
}

// toProvider follows a browser's redirects from begin up to the provider's
// redirect back to us, and returns the callback's query.
func (e *ssoEnv) toProvider(b *app.SSOBegin) url.Values {
	e.t.Helper()
	cb := e.callbackURL()
	var back *url.URL
	c := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), cb) {
			back = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(b.RedirectURL)
	if err != nil {
		e.t.Fatalf("follow provider redirects: %v", err)
	}
	resp.Body.Close()
	if back == nil {
		e.t.Fatalf("the provider did not send the browser back (status %d)", resp.StatusCode)
	}
	return back.Query()
}

// login signs subject in through the provider, as a browser would.
func (e *ssoEnv) login(subject string) (*app.SSOCallbackResult, error) {
	e.t.Helper()
	e.op.SignInAs(subject)
	b, err := e.svc.BeginSSOLogin(e.t.Context(), app.SSOBeginInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL()})
	if err != nil {
		e.t.Fatalf("begin sso login: %v", err)
	}
	return e.svc.FinishSSOLogin(e.t.Context(), app.SSOCallbackInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL(),
		BrowserToken: b.BrowserToken, Params: e.toProvider(b), ClientAddr: "192.0.2.1"})
}

func (e *ssoEnv) mustLogin(subject string) *app.LoginResult {
	e.t.Helper()
	res, err := e.login(subject)
	if err != nil {
		e.t.Fatalf("sso login of %s: %v", subject, err)
	}
	if res.Login == nil || res.Login.SessionToken == "" {
		e.t.Fatalf("sso login of %s: no session: %+v", subject, res)
	}
	return res.Login
}

func (e *ssoEnv) refused(subject, reasonPart string) {
	e.t.Helper()
	_, err := e.login(subject)
	if app.ErrCode(err) != app.EUNAUTHORIZED || !strings.Contains(app.ErrMessage(err), reasonPart) {
		e.t.Fatalf("sso login of %s: got %v, want refusal mentioning %q", subject, err, reasonPart)
	}
}

func (e *ssoEnv) user(email string) *app.User {
	e.t.Helper()
	u, err := e.svc.Store().UserByEmail(e.t.Context(), email)
	if err != nil {
		e.t.Fatalf("user %s: %v", email, err)
	}
	return u
}

// The whole account life cycle through a real provider: just-in-time
// creation with the mapped role, the first matching rule winning, a role
// change and a removed group taking effect at the next login (with old
// sessions dying), re-enabling when the group comes back, and an admin's
// disable standing whatever the groups say.
func TestSSOAccountLifecycle(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newSSOEnv(t, driver, app.IdentityProviderInput{Rules: []app.RoleRule{
			{Group: "nexplane-admins", Role: app.RoleAdmin}, {Group: "ops", Role: app.RoleOperator}}})
		ctx := t.Context()
		e.op.SetUser(oidctest.User{Subject: "sub-alice", Email: "Alice@Example.com", EmailVerified: true, Name: "Alice", Groups: []string{"ops"}})

		first := e.mustLogin("sub-alice")
		alice := e.user("alice@example.com")
		if alice.Role != app.RoleOperator || alice.HasPassword() || first.User.ID != alice.ID {
			t.Fatalf("JIT user = %+v, want an operator without password", alice)
		}
		si, err := e.svc.UserSignInOf(ctx, e.admin, alice.ID)
		if err != nil || si.ProviderID != e.idp.ID || si.Subject != "sub-alice" {
			t.Fatalf("sign-in row = %+v, %v", si, err)
		}
		if _, _, err := e.svc.ResolveSession(ctx, first.SessionToken); err != nil {
			t.Fatalf("session of the first login: %v", err)
		}

		// Both groups: the first rule in order wins.
		e.op.SetUser(oidctest.User{Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true, Groups: []string{"ops", "nexplane-admins"}})
		promoted := e.mustLogin("sub-alice")
		if got := e.user("alice@example.com"); got.Role != app.RoleAdmin || got.SessionVersion <= alice.SessionVersion {
			t.Fatalf("after promotion: %+v", got)
		}
		if _, _, err := e.svc.ResolveSession(ctx, first.SessionToken); err == nil {
			t.Fatal("a session from before the role change still works")
		}

		// Group removed: the account is disabled at this login, and the
		// session of the previous one dies with it.
		e.op.SetUser(oidctest.User{Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true, Groups: []string{"marketing"}})
		e.refused("sub-alice", "no group")
		if got := e.user("alice@example.com"); !got.Disabled {
			t.Fatalf("after losing every group: %+v", got)
		}
		if _, _, err := e.svc.ResolveSession(ctx, promoted.SessionToken); err == nil {
			t.Fatal("a session survived the account being disabled by the mapping")
		}

		// The group is back: the mapping re-enables what it disabled.
		e.op.SetUser(oidctest.User{Subject: "sub-alice", Email: "alice@example.com", EmailVerified: true, Groups: []string{"ops"}})
		e.mustLogin("sub-alice")
		if got := e.user("alice@example.com"); got.Disabled || got.Role != app.RoleOperator {
			t.Fatalf("after the group came back: %+v", got)
		}

		// An admin's disable is not the mapping's to undo.
		yes := true
		if _, err := e.svc.UpdateUser(ctx, e.admin, alice.ID, app.UserPatch{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		e.refused("sub-alice", "disabled")

		events := auditEvents(t, e)
		for _, want := range []string{"user.created", "user.role_changed", "user.disabled", "user.enabled", "auth.login_succeeded", "auth.login_failed"} {
			if !slices.Contains(events, want) {
				t.Errorf("audit log lacks %s: %v", want, events)
			}
		}
	})
}

func auditEvents(t *testing.T, e *ssoEnv) []string {
	t.Helper()
	recs, err := e.svc.Store().ListAudit(t.Context(), app.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, r.Event)
	}
	return out
}

// Accounts are linked by the provider's subject, never by email: an
// existing account with the same email is not taken over, an email change
// at the provider keeps the link, no match and no default creates nobody,
// and a default role lets in who no rule names.
func TestSSOLinksBySubjectNotEmail(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newSSOEnv(t, driver, app.IdentityProviderInput{Rules: []app.RoleRule{{Group: "ops", Role: app.RoleOperator}}})
		ctx := t.Context()
		local := testkit.MustCreateUser(t, e.svc, "bob@example.com", app.RoleViewer)
		e.op.SetUser(oidctest.User{Subject: "sub-mallory", Email: "bob@example.com", EmailVerified: true, Groups: []string{"ops"}})
		e.refused("sub-mallory", "not linked")
		if got := e.user("bob@example.com"); got.ID != local.ID || got.Role != app.RoleViewer {
			t.Fatalf("the local account changed: %+v", got)
		}

		e.op.SetUser(oidctest.User{Subject: "sub-carol", Email: "carol@example.com", EmailVerified: true, Groups: []string{"ops"}})
		carol := e.mustLogin("sub-carol").User
		e.op.SetUser(oidctest.User{Subject: "sub-carol", Email: "carol.new@example.com", EmailVerified: true, Groups: []string{"ops"}})
		if again := e.mustLogin("sub-carol").User; again.ID != carol.ID {
			t.Fatalf("an email change made a new account: %d != %d", again.ID, carol.ID)
		}

		// An address the provider never verified could be anybody's.
		e.op.SetUser(oidctest.User{Subject: "sub-dave", Email: "dave@example.com", EmailVerified: false, Groups: []string{"ops"}})
		e.refused("sub-dave", "no usable email")

		e.op.SetUser(oidctest.User{Subject: "sub-erin", Email: "erin@example.com", EmailVerified: true, Groups: []string{"sales"}})
		e.refused("sub-erin", "no group")
		if _, err := e.svc.Store().UserByEmail(ctx, "erin@example.com"); app.ErrCode(err) != app.ENOTFOUND {
			t.Fatalf("a refused login created a user: %v", err)
		}
		viewer := app.RoleViewer
		if _, err := e.svc.UpdateIdentityProvider(ctx, e.admin, e.idp.ID, app.IdentityProviderPatch{DefaultRole: &viewer}); err != nil {
			t.Fatal(err)
		}
		if erin := e.mustLogin("sub-erin").User; erin.Role != app.RoleViewer {
			t.Fatalf("default role: %+v", erin)
		}
	})
}

// Password sign-in switches: the global one (which needs an enabled
// provider first), the per-user one, and SSO accounts, which get no local
// password unless an admin allows it.
func TestLocalLoginSwitches(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newSSOEnv(t, driver, app.IdentityProviderInput{DefaultRole: app.RoleViewer})
		ctx := t.Context()
		local := testkit.MustCreateUser(t, e.svc, "local@example.com", app.RoleOperator)
		login := func(email string) error {
			_, err := e.svc.Login(ctx, app.LoginInput{Email: email, Password: testkit.TestPassword, ClientAddr: "192.0.2.9"})
			return err
		}
		if err := login("local@example.com"); err != nil {
			t.Fatalf("local login: %v", err)
		}

		off := false
		if _, err := e.svc.UpdateIdentityProvider(ctx, e.admin, e.idp.ID, app.IdentityProviderPatch{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetLocalLoginDisabled(ctx, e.admin, true); app.ErrCode(err) != app.ECONFLICT {
			t.Fatalf("disabling password sign-in without an enabled provider: %v", err)
		}
		on := true
		if _, err := e.svc.UpdateIdentityProvider(ctx, e.admin, e.idp.ID, app.IdentityProviderPatch{Enabled: &on}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetLocalLoginDisabled(ctx, app.UserActor(local), true); app.ErrCode(err) != app.EFORBIDDEN {
			t.Fatalf("an operator switched password sign-in: %v", err)
		}
		if err := e.svc.SetLocalLoginDisabled(ctx, e.admin, true); err != nil {
			t.Fatal(err)
		}
		if err := login("local@example.com"); app.ErrCode(err) != app.EFORBIDDEN {
			t.Fatalf("password login with the global switch off: %v", err)
		}
		// A wrong password still says only "incorrect".
		if _, err := e.svc.Login(ctx, app.LoginInput{Email: "local@example.com", Password: "wrong password 123", ClientAddr: "192.0.2.9"}); app.ErrCode(err) != app.EUNAUTHORIZED {
			t.Fatalf("wrong password with the switch off: %v", err)
		}
		if err := e.svc.SetLocalLoginDisabled(ctx, e.admin, false); err != nil {
			t.Fatal(err)
		}

		yes, no := true, false
		if _, err := e.svc.UpdateUserSignIn(ctx, e.admin, local.ID, app.SignInPatch{LocalLoginDisabled: &yes}); err != nil {
			t.Fatal(err)
		}
		if err := login("local@example.com"); app.ErrCode(err) != app.EFORBIDDEN {
			t.Fatalf("password login of a user with it turned off: %v", err)
		}
		if _, err := e.svc.UpdateUserSignIn(ctx, e.admin, local.ID, app.SignInPatch{LocalLoginDisabled: &no}); err != nil {
			t.Fatal(err)
		}
		if err := login("local@example.com"); err != nil {
			t.Fatalf("password login turned back on: %v", err)
		}
		if _, err := e.svc.UpdateUserSignIn(ctx, e.admin, local.ID, app.SignInPatch{LocalPasswordAllowed: &yes}); app.ErrCode(err) != app.EINVALID {
			t.Fatalf("allowing a local account a local password: %v", err)
		}

		e.op.SetUser(oidctest.User{Subject: "sub-sso", Email: "sso@example.com", EmailVerified: true})
		sso := e.mustLogin("sub-sso").User
		if _, err := e.svc.RequestPasswordReset(ctx, e.admin, sso.ID, false); app.ErrCode(err) != app.EFORBIDDEN {
			t.Fatalf("a password link for an SSO user: %v", err)
		}
		if _, err := e.svc.UpdateUserSignIn(ctx, e.admin, sso.ID, app.SignInPatch{LocalPasswordAllowed: &yes}); err != nil {
			t.Fatal(err)
		}
		link, err := e.svc.RequestPasswordReset(ctx, e.admin, sso.ID, false)
		if err != nil {
			t.Fatalf("a password link once allowed: %v", err)
		}
		if _, err := e.svc.AcceptPasswordLink(ctx, app.AcceptLinkInput{Token: link.Token, Purpose: link.Purpose, Password: testkit.TestPassword}); err != nil {
			t.Fatalf("accept the link: %v", err)
		}
		if err := login("sso@example.com"); err != nil {
			t.Fatalf("an allowed SSO user's password login: %v", err)
		}
		// Withdrawn: the password goes, and with it the sessions.
		if _, err := e.svc.UpdateUserSignIn(ctx, e.admin, sso.ID, app.SignInPatch{LocalPasswordAllowed: &no}); err != nil {
			t.Fatal(err)
		}
		if err := login("sso@example.com"); app.ErrCode(err) != app.EUNAUTHORIZED {
			t.Fatalf("password login after the allowance was withdrawn: %v", err)
		}
	})
}

// The state is single use, bound to the browser that started the login,
// and only for the provider it was made for; a disabled provider starts
// and finishes no login.
func TestSSOStateRules(t *testing.T) {
	e := newSSOEnv(t, "", app.IdentityProviderInput{DefaultRole: app.RoleViewer})
	ctx := t.Context()
	e.op.SetUser(oidctest.User{Subject: "sub-frank", Email: "frank@example.com", EmailVerified: true})
	finish := func(b *app.SSOBegin, params url.Values, browser string) error {
		_, err := e.svc.FinishSSOLogin(ctx, app.SSOCallbackInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL(),
			BrowserToken: browser, Params: params})
		return err
	}
	begin := func() *app.SSOBegin {
		e.op.SignInAs("sub-frank")
		b, err := e.svc.BeginSSOLogin(ctx, app.SSOBeginInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	b := begin()
	params := e.toProvider(b)
	if err := finish(b, params, b.BrowserToken); err != nil {
		t.Fatalf("first callback: %v", err)
	}
	if err := finish(b, params, b.BrowserToken); app.ErrCode(err) != app.EUNAUTHORIZED || !strings.Contains(app.ErrMessage(err), "used already") {
		t.Fatalf("replayed state: %v", err)
	}

	b = begin()
	if err := finish(b, e.toProvider(b), "another browser"); app.ErrCode(err) != app.EUNAUTHORIZED || !strings.Contains(app.ErrMessage(err), "another browser") {
		t.Fatalf("callback in another browser: %v", err)
	}

	// Past its lifetime the state is refused even though unused.
	b = begin()
	params = e.toProvider(b)
	e.env.Clock.Advance(app.SSOLoginTTL + time.Second)
	if err := finish(b, params, b.BrowserToken); app.ErrCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("expired state: %v", err)
	}

	b = begin()
	params = e.toProvider(b)
	off := false
	if _, err := e.svc.UpdateIdentityProvider(ctx, e.admin, e.idp.ID, app.IdentityProviderPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if err := finish(b, params, b.BrowserToken); app.ErrCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("callback after the provider was disabled: %v", err)
	}
	if _, err := e.svc.BeginSSOLogin(ctx, app.SSOBeginInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL()}); app.ErrCode(err) != app.EFORBIDDEN {
		t.Fatalf("begin through a disabled provider: %v", err)
	}
	if cs, err := e.svc.LoginChoices(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("login choices with the provider disabled: %v, %v", cs, err)
	}
}

// ID tokens are checked: signature (also across a key rotation), audience,
// expiry and issue time, each within ClockSkew and no further.
func TestSSOTokenValidation(t *testing.T) {
	e := newSSOEnv(t, "", app.IdentityProviderInput{DefaultRole: app.RoleViewer})
	e.op.SetUser(oidctest.User{Subject: "sub-gina", Email: "gina@example.com", EmailVerified: true})
	now := func() float64 { return float64(e.env.Clock.Now().Unix()) }
	for _, tc := range []struct {
		name   string
		tamper func()
		refuse string // "" accepts
	}{
		{"untouched", func() {}, ""},
		{"forged signature", func() { e.op.ForgeNext(t) }, "signature"},
		{"wrong audience", func() { e.op.TamperNext(t, func(c map[string]any) { c["aud"] = []string{"someone-else"} }) }, "audience"},
		{"other issuer", func() { e.op.TamperNext(t, func(c map[string]any) { c["iss"] = "https://evil.example.com" }) }, "issuer"},
		{"expired", func() {
			e.op.TamperNext(t, func(c map[string]any) { c["exp"] = now() - 2*ssooidc.ClockSkew.Seconds() })
		}, "expired"},
		{"expired within the skew", func() {
			e.op.TamperNext(t, func(c map[string]any) { c["exp"] = now() - ssooidc.ClockSkew.Seconds()/2 })
		}, ""},
		{"issued in the future", func() {
			e.op.TamperNext(t, func(c map[string]any) { c["iat"] = now() + 10*ssooidc.ClockSkew.Seconds() })
		}, "future"},
		{"issued slightly ahead, within the skew", func() {
			e.op.TamperNext(t, func(c map[string]any) { c["iat"] = now() + ssooidc.ClockSkew.Seconds()/2 })
		}, ""},
		{"wrong nonce", func() { e.op.TamperNext(t, func(c map[string]any) { c["nonce"] = "replayed" }) }, "nonce"},
		{"after key rotation", func() { e.op.RotateKeys(t) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.tamper()
			_, err := e.login("sub-gina")
			if tc.refuse == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if app.ErrCode(err) != app.EUNAUTHORIZED || !strings.Contains(app.ErrMessage(err), tc.refuse) {
				t.Fatalf("got %v, want a refusal mentioning %q", err, tc.refuse)
			}
		})
	}
}

// Provider administration: admins only, secrets sealed and never in the
// audit log, bad input writes nothing, a provider with users cannot be
// deleted, and "try login" reports without signing in.
func TestIdentityProviderAdmin(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newSSOEnv(t, driver, app.IdentityProviderInput{Rules: []app.RoleRule{{Group: "ops", Role: app.RoleOperator}}, MFADelegated: true})
		ctx := t.Context()
		if string(e.idp.SealedSecrets) == "" || strings.Contains(string(e.idp.SealedSecrets), oidctest.ClientSecret) {
			t.Fatal("the client secret is not sealed")
		}
		op := app.UserActor(testkit.MustCreateUser(t, e.svc, "op@example.com", app.RoleOperator))
		if _, err := e.svc.ListIdentityProviders(ctx, op); app.ErrCode(err) != app.EFORBIDDEN {
			t.Fatalf("an operator listed providers: %v", err)
		}
		bad := []app.IdentityProviderInput{
			{Name: "x", Type: "oidc", Config: json.RawMessage(`{"issuer":"http://idp.example.com","client_id":"c"}`)},
			{Name: "x", Type: "oidc", Config: json.RawMessage(`{"issuer":"https://idp.example.com"}`)},
			{Name: "x", Type: "nope", Config: json.RawMessage(`{}`)},
			{Name: "x", Type: "oidc", Config: json.RawMessage(`{"issuer":"https://idp.example.com","client_id":"c"}`),
				Rules: []app.RoleRule{{Group: "g", Role: "root"}}},
			{Name: "", Type: "oidc", Config: json.RawMessage(`{"issuer":"https://idp.example.com","client_id":"c"}`)},
			{Name: "Corporate SSO", Type: "oidc", Config: json.RawMessage(`{"issuer":"https://idp.example.com","client_id":"c"}`)},
		}
		for i, in := range bad {
			if _, err := e.svc.CreateIdentityProvider(ctx, e.admin, in); err == nil {
				t.Errorf("bad provider %d accepted", i)
			}
		}
		if ps, _ := e.svc.ListIdentityProviders(ctx, e.admin); len(ps) != 1 {
			t.Fatalf("bad input left providers behind: %d", len(ps))
		}
		// Moving the provider without the secret again would send it elsewhere.
		moved := json.RawMessage(`{"issuer":"https://evil.example.com","client_id":"nexplane"}`)
		if _, err := e.svc.UpdateIdentityProvider(ctx, e.admin, e.idp.ID, app.IdentityProviderPatch{Config: moved}); app.ErrCode(err) != app.ECREDENTIALS {
			t.Fatalf("moving the issuer without the secret: %v", err)
		}

		// Try login: the identity and the mapping, nobody signed in.
		e.op.SetUser(oidctest.User{Subject: "sub-hal", Email: "hal@example.com", EmailVerified: true, Groups: []string{"ops"}})
		e.op.SignInAs("sub-hal")
		b, err := e.svc.TryIdentityProvider(ctx, e.admin, app.SSOBeginInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL()})
		if err != nil {
			t.Fatal(err)
		}
		params := e.toProvider(b)
		if _, err := e.svc.FinishSSOLogin(ctx, app.SSOCallbackInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL(),
			BrowserToken: b.BrowserToken, Params: params, Actor: &op}); app.ErrCode(err) != app.EUNAUTHORIZED {
			t.Fatalf("someone else finished the admin's dry run: %v", err)
		}
		b, _ = e.svc.TryIdentityProvider(ctx, e.admin, app.SSOBeginInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL()})
		res, err := e.svc.FinishSSOLogin(ctx, app.SSOCallbackInput{ProviderID: e.idp.ID, CallbackURL: e.callbackURL(),
			BrowserToken: b.BrowserToken, Params: e.toProvider(b), Actor: &e.admin})
		if err != nil || res.DryRun == nil || res.Login != nil {
			t.Fatalf("dry run: %+v, %v", res, err)
		}
		if d := res.DryRun; d.Role != app.RoleOperator || d.Rule != 1 || d.Outcome != "create" || d.Identity.Subject != "sub-hal" ||
			!slices.Equal(d.Identity.Groups, []string{"ops"}) || d.Identity.Claims["email"] != "hal@example.com" {
			t.Fatalf("dry run report: %+v", d)
		}
		if _, err := e.svc.Store().UserByEmail(ctx, "hal@example.com"); app.ErrCode(err) != app.ENOTFOUND {
			t.Fatalf("the dry run created a user: %v", err)
		}

		// MFA delegated: the policy does not hold the provider's users.
		if _, err := e.svc.SetMFAPolicy(ctx, e.admin, string(app.MFAEveryone)); err != nil {
			t.Fatal(err)
		}
		hal := e.mustLogin("sub-hal").User
		if must, err := e.svc.MustEnrollMFA(ctx, app.UserActor(hal)); err != nil || must {
			t.Fatalf("MFA delegated to the provider, yet enrolment required: %v, %v", must, err)
		}
		no := false
		if _, err := e.svc.UpdateIdentityProvider(ctx, e.admin, e.idp.ID, app.IdentityProviderPatch{MFADelegated: &no}); err != nil {
			t.Fatal(err)
		}
		if must, err := e.svc.MustEnrollMFA(ctx, app.UserActor(hal)); err != nil || !must {
			t.Fatalf("MFA no longer delegated, yet no enrolment required: %v, %v", must, err)
		}

		// An enrolled SSO user gets the second step unless the provider
		// is trusted with it.
		enr, err := e.svc.BeginTOTPEnrollment(ctx, app.UserActor(e.user("hal@example.com")))
		if err != nil {
			t.Fatal(err)
		}
		code, err := totp.GenerateCode(enr.Secret, e.env.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ConfirmTOTPEnrollment(ctx, app.UserActor(e.user("hal@example.com")), code); err != nil {
			t.Fatal(err)
		}
		if res, err := e.login("sub-hal"); err != nil || res.Login.MFAToken == "" || res.Login.SessionToken != "" {
			t.Fatalf("SSO login of an enrolled user, MFA not delegated: %+v, %v", res, err)
		}
		yes := true
		if _, err := e.svc.UpdateIdentityProvider(ctx, e.admin, e.idp.ID, app.IdentityProviderPatch{MFADelegated: &yes}); err != nil {
			t.Fatal(err)
		}
		if res, err := e.login("sub-hal"); err != nil || res.Login.MFAToken != "" || res.Login.SessionToken == "" {
			t.Fatalf("SSO login of an enrolled user, MFA delegated: %+v, %v", res, err)
		}

		// Rekey re-seals the client secret; logins go on working.
		rep, err := e.svc.Rekey(ctx, e.admin, nil)
		if err != nil || rep.ProviderSecrets != 1 {
			t.Fatalf("rekey: %+v, %v", rep, err)
		}
		e.mustLogin("sub-hal")

		if err := e.svc.DeleteIdentityProvider(ctx, e.admin, e.idp.ID); app.ErrCode(err) != app.ECONFLICT {
			t.Fatalf("deleting a provider with users: %v", err)
		}

		recs, err := e.svc.Store().ListAudit(ctx, app.AuditFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range recs {
			seen[r.Event] = true
			if strings.Contains(string(r.Payload), oidctest.ClientSecret) {
				t.Fatalf("audit record %s holds the client secret", r.Event)
			}
		}
		for _, want := range []string{"identity_provider.created", "identity_provider.updated", "identity_provider.tested", "settings.changed"} {
			if !seen[want] {
				t.Errorf("audit log lacks %s", want)
			}
		}
	})
}
