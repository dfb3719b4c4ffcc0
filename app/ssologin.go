package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"

	"github.com/nexplane/nexplane/app/sso"
)

// SSOBeginInput starts a redirect login through a provider.
type SSOBeginInput struct {
	ProviderID int64
	// CallbackURL is where the provider sends the browser back:
	// {public URL}/login/sso/{id}/callback.
	CallbackURL string
}

// SSOBegin is where to send the browser, and the random value it must hold
// (in a cookie) when it comes back: the login is bound to that browser.
type SSOBegin struct {
	RedirectURL  string
	BrowserToken string
	ProviderName string
}

// SSOCallbackInput is what the browser brought back from the provider.
type SSOCallbackInput struct {
	ProviderID   int64
	CallbackURL  string
	BrowserToken string // the cookie set by BeginSSOLogin
	Params       url.Values
	ClientAddr   string
	UserAgent    string
	// Actor is the console session's actor, if any: a dry run ("try
	// login") finishes only in the session of the admin who started it.
	Actor *Actor
}

// SSOCallbackResult is a finished login, or the report of a dry run.
type SSOCallbackResult struct {
	Login  *LoginResult // nil for a dry run
	DryRun *SSODryRun
}

// SSODryRun is what "try login" shows an admin: what the provider sent and
// what a real login would do with it. Nothing was written but its audit
// record.
type SSODryRun struct {
	ProviderID   int64
	ProviderName string
	Identity     sso.Identity
	// Role is the role the mapping gives; empty when refused.
	Role Role
	// Rule is the 1-based rule that matched; 0 when the default role (or
	// nothing) applied.
	Rule int
	// Outcome says what a real login would do: "create", "sign_in",
	// "change_role", "enable" or "refuse".
	Outcome string
	// Refusal is the reason when Outcome is "refuse".
	Refusal string
	// LinkedUser is the email of the account linked to this subject, if any.
	LinkedUser string
}

// ssoReason is a refused SSO login's reason: the audit record's reason and
// what the user is told.
type ssoReason struct {
	code    string
	message string
}

var (
	reasonUnknownState    = &ssoReason{"state_unknown", "this sign-in link was used already or has expired; please start again"}
	reasonBrowserMismatch = &ssoReason{"browser_mismatch", "this sign-in was started in another browser; please start again"}
	reasonDisabledIdP     = &ssoReason{"provider_disabled", "this sign-in method is turned off"}
	reasonNoGroup         = &ssoReason{"no_matching_group", "your account has no group that gives access to Nexplane"}
	reasonNoEmail         = &ssoReason{"email_missing", "the identity provider sent no usable email address for your account"}
	reasonEmailTaken      = &ssoReason{"email_taken", "an account with your email exists already and is not linked to this identity provider; ask an admin"}
	reasonDisabled        = &ssoReason{"disabled", "your account is disabled"}
	reasonService         = &ssoReason{"service_account", "this identity is linked to a service account"}
	reasonDryRunSession   = &ssoReason{"dry_run_session", "this test sign-in belongs to another session; please start again"}
)

// BeginSSOLogin starts a browser login through an enabled provider.
func (s *Service) BeginSSOLogin(ctx context.Context, in SSOBeginInput) (*SSOBegin, error) {
	return s.beginSSO(ctx, in, 0)
}

// TryIdentityProvider starts a dry run of a provider's login for an admin:
// the whole flow, without signing anyone in or changing any account. It
// works on disabled providers too, so one can be tested before it is
// offered.
func (s *Service) TryIdentityProvider(ctx context.Context, actor Actor, in SSOBeginInput) (*SSOBegin, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return nil, err
	}
	id, err := actorUserID(actor)
	if err != nil {
		return nil, Errorf(EFORBIDDEN, "only a signed-in admin can try a provider's login")
	}
	return s.beginSSO(ctx, in, id)
}

func randomToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (s *Service) beginSSO(ctx context.Context, in SSOBeginInput, dryRunUser int64) (*SSOBegin, error) {
	p, err := s.store.IdentityProviderByID(ctx, in.ProviderID)
	if err != nil {
		return nil, fmt.Errorf("begin sso login: %w", err)
	}
	if !p.Enabled && dryRunUser == 0 {
		return nil, Errorf(EFORBIDDEN, "%s", reasonDisabledIdP.message)
	}
	flow, run, err := s.redirectFlow(p)
	if err != nil {
		return nil, err
	}
	var vals [4]string
	for i := range vals {
		if vals[i], err = randomToken(); err != nil {
			return nil, fmt.Errorf("begin sso login: %w", err)
		}
	}
	state, nonce, verifier, browser := vals[0], vals[1], vals[2], vals[3]
	now := s.now()
	req := RedirectRequest{CallbackURL: in.CallbackURL, State: state, Nonce: nonce, CodeVerifier: verifier, Now: s.now}
	authURL, err := flow.AuthURL(ctx, run, req)
	if err != nil {
		return nil, fmt.Errorf("begin sso login through provider %d: %w", p.ID, err)
	}
	l := &SSOLogin{ID: hashToken(state), ProviderID: p.ID, Binding: hashToken(browser), Nonce: nonce,
		CodeVerifier: verifier, DryRunUser: dryRunUser, CreatedAt: now, ExpiresAt: now.Add(SSOLoginTTL)}
	if err := s.store.WithTx(ctx, func(tx Tx) error { return tx.CreateSSOLogin(ctx, l) }); err != nil {
		return nil, fmt.Errorf("begin sso login: %w", err)
	}
	return &SSOBegin{RedirectURL: authURL, BrowserToken: browser, ProviderName: p.Name}, nil
}

// redirectFlow returns the provider's browser flow and its opened secrets.
func (s *Service) redirectFlow(p *IdentityProvider) (RedirectFlow, ProviderRun, error) {
	t, err := s.registry.IdentityProviderType(p.Type)
	if err != nil {
		return nil, ProviderRun{}, err
	}
	flow, ok := t.(RedirectFlow)
	if !ok {
		return nil, ProviderRun{}, Errorf(EINVALID, "%s providers do not sign in through the browser", p.Type)
	}
	run, err := s.providerRun(p)
	return flow, run, err
}

func (s *Service) providerRun(p *IdentityProvider) (ProviderRun, error) {
	run := ProviderRun{ID: p.ID, Version: p.Version, Config: p.Config}
	if p.SealedSecrets != nil {
		if s.sealer == nil {
			return run, fmt.Errorf("open secrets of identity provider %d: no sealer configured", p.ID)
		}
		secrets, err := s.sealer.Open(p.SealedSecrets, p.SecretsAD())
		if err != nil {
			return run, Wrap(EUNAVAILABLE, err, "the secrets of identity provider %q cannot be opened (was SECRET_KEY changed?)", p.Name)
		}
		run.Secrets = secrets
	}
	return run, nil
}

// FinishSSOLogin checks the browser's return from the provider: the state
// (single use, unexpired, this browser's, this provider's), then the
// provider's answer, then the account rules. A refusal is audited with its
// reason and returned as EUNAUTHORIZED with a message for the user.
func (s *Service) FinishSSOLogin(ctx context.Context, in SSOCallbackInput) (*SSOCallbackResult, error) {
	var l *SSOLogin
	err := s.store.WithTx(ctx, func(tx Tx) error {
		var err error
		l, err = tx.ConsumeSSOLogin(ctx, hashToken(in.Params.Get("state")))
		return err
	})
	meta := map[string]any{"via": "console", "method": "sso", "provider_id": in.ProviderID, "client_addr": in.ClientAddr}
	switch {
	case ErrCode(err) == ENOTFOUND:
		return nil, s.refuseSSO(ctx, nil, Actor{Type: ActorUser}, reasonUnknownState, meta)
	case err != nil:
		return nil, fmt.Errorf("finish sso login: %w", err)
	case l.ProviderID != in.ProviderID || !s.now().Before(l.ExpiresAt):
		return nil, s.refuseSSO(ctx, nil, Actor{Type: ActorUser}, reasonUnknownState, meta)
	case l.Binding != hashToken(in.BrowserToken):
		return nil, s.refuseSSO(ctx, nil, Actor{Type: ActorUser}, reasonBrowserMismatch, meta)
	}
	p, err := s.store.IdentityProviderByID(ctx, l.ProviderID)
	if err != nil {
		return nil, fmt.Errorf("finish sso login: %w", err)
	}
	meta["provider"] = p.Name
	if l.DryRunUser != 0 {
		if in.Actor == nil || in.Actor.ID != strconv.FormatInt(l.DryRunUser, 10) || !in.Actor.can(ActManageSettings) {
			return nil, s.refuseSSO(ctx, nil, Actor{Type: ActorUser}, reasonDryRunSession, meta)
		}
	} else if !p.Enabled {
		return nil, s.refuseSSO(ctx, nil, Actor{Type: ActorUser}, reasonDisabledIdP, meta)
	}
	flow, run, err := s.redirectFlow(p)
	if err != nil {
		return nil, err
	}
	req := RedirectRequest{CallbackURL: in.CallbackURL, State: in.Params.Get("state"), Nonce: l.Nonce,
		CodeVerifier: l.CodeVerifier, Now: s.now}
	ident, err := flow.Callback(ctx, run, req, in.Params)
	if err != nil {
		if ErrCode(err) != EUNAUTHORIZED {
			return nil, fmt.Errorf("finish sso login through provider %d: %w", p.ID, err)
		}
		if l.DryRunUser != 0 {
			meta["dry_run"] = true
		}
		meta["detail"] = ErrMessage(err)
		return nil, s.refuseSSO(ctx, nil, Actor{Type: ActorUser}, &ssoReason{"token_rejected", ErrMessage(err)}, meta)
	}
	if l.DryRunUser != 0 {
		dry, err := s.dryRunSSO(ctx, *in.Actor, p, ident)
		if err != nil {
			return nil, err
		}
		return &SSOCallbackResult{DryRun: dry}, nil
	}
	res, err := s.signInIdentity(ctx, p, ident, LoginInput{ClientAddr: in.ClientAddr, UserAgent: in.UserAgent, Console: true}, meta)
	if err != nil {
		return nil, err
	}
	return &SSOCallbackResult{Login: res}, nil
}

// refuseSSO records a refused SSO login and returns the user's error. tx is
// the transaction to record it in, or nil for a new one.
func (s *Service) refuseSSO(ctx context.Context, tx Tx, actor Actor, r *ssoReason, meta map[string]any) error {
	payload := map[string]any{"reason": r.code}
	for k, v := range meta {
		payload[k] = v
	}
	record := func(tx Tx) error {
		return s.appendAudit(ctx, tx, actor, "auth.login_failed", "user", actor.ID, payload)
	}
	var err error
	if tx != nil {
		err = record(tx)
	} else {
		err = s.store.WithTx(ctx, record)
	}
	if err != nil {
		return fmt.Errorf("record refused sso login: %w", err)
	}
	return Errorf(EUNAUTHORIZED, "single sign-on refused: %s", r.message)
}

// ssoPlan is what the account rules make of an identity, decided from the
// rows read in one transaction; applySSOPlan writes it.
type ssoPlan struct {
	user    *User // nil: create one
	signIn  *UserSignIn
	role    Role
	rule    int
	outcome string
	refusal *ssoReason
	// disable is set when a linked account lost every matching group.
	disable bool
	email   string
}

func planSSO(ctx context.Context, q Queries, p *IdentityProvider, ident sso.Identity) (*ssoPlan, error) {
	role, rule, matched := p.MapRole(ident.Groups)
	pl := &ssoPlan{role: role, rule: rule + 1}
	u, si, err := q.UserBySubject(ctx, p.ID, ident.Subject)
	switch {
	case err == nil:
		pl.user, pl.signIn = u, si
		switch {
		case u.Kind == KindService:
			pl.refusal = reasonService
		case !matched:
			pl.refusal, pl.disable = reasonNoGroup, !u.Disabled
		case u.Disabled && !si.DisabledByMapping:
			pl.refusal = reasonDisabled
		case u.Disabled:
			pl.outcome = "enable"
		case u.Role != role:
			pl.outcome = "change_role"
		default:
			pl.outcome = "sign_in"
		}
	case ErrCode(err) != ENOTFOUND:
		return nil, err
	case !matched:
		pl.refusal = reasonNoGroup
	default:
		email, err := NormalizeEmail(ident.Email)
		if err != nil {
			pl.refusal = reasonNoEmail
			break
		}
		// Accounts are linked by subject only: an existing account with
		// this email is somebody else's until an admin says otherwise.
		if _, err := q.UserByEmail(ctx, email); err == nil {
			pl.refusal = reasonEmailTaken
		} else if ErrCode(err) != ENOTFOUND {
			return nil, err
		}
		pl.email, pl.outcome = email, "create"
	}
	if pl.refusal != nil {
		pl.outcome = "refuse"
		pl.role, pl.rule = "", 0
	}
	return pl, nil
}

// dryRunSSO reports what a login with ident would do, and records that the
// admin tried the provider (never the claims: they may hold personal data).
func (s *Service) dryRunSSO(ctx context.Context, actor Actor, p *IdentityProvider, ident sso.Identity) (*SSODryRun, error) {
	pl, err := planSSO(ctx, s.store, p, ident)
	if err != nil {
		return nil, fmt.Errorf("try identity provider %d: %w", p.ID, err)
	}
	d := &SSODryRun{ProviderID: p.ID, ProviderName: p.Name, Identity: ident, Role: pl.role, Rule: pl.rule, Outcome: pl.outcome}
	if pl.refusal != nil {
		d.Refusal = pl.refusal.message
	}
	if pl.user != nil {
		d.LinkedUser = pl.user.Email
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		return s.appendAudit(ctx, tx, actor, "identity_provider.tested", "identity_provider", strconv.FormatInt(p.ID, 10),
			map[string]any{"name": p.Name, "outcome": d.Outcome, "role": d.Role, "groups": len(ident.Groups)})
	})
	if err != nil {
		return nil, fmt.Errorf("try identity provider %d: %w", p.ID, err)
	}
	return d, nil
}

// signInIdentity applies the account rules to an identity a provider
// vouched for (just-in-time creation, the mapping re-applied at every
// login) and finishes the login as a password login would: the second
// factor unless the provider handles it, then a console session.
func (s *Service) signInIdentity(ctx context.Context, p *IdentityProvider, ident sso.Identity, in LoginInput, meta map[string]any) (*LoginResult, error) {
	now := s.now()
	var user *User
	var refusal error
	err := s.store.WithTx(ctx, func(tx Tx) error {
		pl, err := planSSO(ctx, tx, p, ident)
		if err != nil {
			return err
		}
		mapper := SystemActor("identity_provider:" + strconv.FormatInt(p.ID, 10))
		mapping := map[string]any{"via": "sso_mapping", "provider_id": p.ID, "provider": p.Name}
		if pl.refusal != nil {
			actor := Actor{Type: ActorUser}
			if pl.user != nil {
				actor = UserActor(pl.user)
			}
			if pl.disable {
				// The provider no longer grants any role: the account
				// closes now, and its sessions and tokens with it.
				u := pl.user
				u.Disabled = true
				u.SessionVersion++
				u.UpdatedAt = now.UTC()
				pl.signIn.DisabledByMapping = true
				if err := s.saveMappedUser(ctx, tx, u, pl.signIn); err != nil {
					return err
				}
				if err := s.appendAudit(ctx, tx, mapper, "user.disabled", "user", strconv.FormatInt(u.ID, 10),
					withEmail(mapping, u.Email)); err != nil {
					return err
				}
			}
			refusal = s.refuseSSO(ctx, tx, actor, pl.refusal, meta)
			return nil
		}
		if pl.user == nil {
			u := &User{Email: pl.email, Role: pl.role, SessionVersion: 1, Kind: KindHuman, CreatedAt: now.UTC(), UpdatedAt: now.UTC()}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			si := &UserSignIn{UserID: u.ID, ProviderID: p.ID, Subject: ident.Subject, LastSSOLoginAt: now}
			if err := tx.PutUserSignIn(ctx, si); err != nil {
				return err
			}
			payload := withEmail(mapping, u.Email)
			payload["role"] = u.Role
			if err := s.appendAudit(ctx, tx, mapper, "user.created", "user", strconv.FormatInt(u.ID, 10), payload); err != nil {
				return err
			}
			user = u
			return nil
		}
		u, si := pl.user, pl.signIn
		rid := strconv.FormatInt(u.ID, 10)
		changed := false
		if u.Disabled {
			u.Disabled, si.DisabledByMapping, changed = false, false, true
			if err := s.appendAudit(ctx, tx, mapper, "user.enabled", "user", rid, withEmail(mapping, u.Email)); err != nil {
				return err
			}
		}
		if u.Role != pl.role {
			payload := withEmail(mapping, u.Email)
			payload["from"], payload["to"] = u.Role, pl.role
			u.Role, changed = pl.role, true
			if err := s.appendAudit(ctx, tx, mapper, "user.role_changed", "user", rid, payload); err != nil {
				return err
			}
		}
		if changed {
			// Old sessions and JWTs were issued under the old role.
			u.SessionVersion++
			u.UpdatedAt = now.UTC()
		}
		si.LastSSOLoginAt = now
		if err := s.saveMappedUser(ctx, tx, u, si); err != nil {
			return err
		}
		user = u
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sso login through provider %d: %w", p.ID, err)
	}
	if refusal != nil {
		return nil, refusal
	}
	if !p.MFADelegated {
		st, err := s.mfaStatus(ctx, s.store, user.ID, user.Role)
		if err != nil {
			return nil, fmt.Errorf("sso login: %w", err)
		}
		if st.Enrolled {
			return s.challengeMFA(ctx, user, now, in, "console")
		}
	}
	res := &LoginResult{User: user}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		token, sess, err := newSession(user, now, in.ClientAddr, in.UserAgent)
		if err != nil {
			return err
		}
		if err := tx.CreateSession(ctx, sess); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		res.SessionToken = token
		return s.appendAudit(ctx, tx, UserActor(user), "auth.login_succeeded", "user", strconv.FormatInt(user.ID, 10), meta)
	})
	if err != nil {
		return nil, fmt.Errorf("sso login: record success: %w", err)
	}
	return res, nil
}

// saveMappedUser writes a user and sign-in row changed by the mapping;
// a bumped session version ends the user's sessions too.
func (s *Service) saveMappedUser(ctx context.Context, tx Tx, u *User, si *UserSignIn) error {
	old, err := tx.UserByID(ctx, u.ID)
	if err != nil {
		return err
	}
	if old.SessionVersion != u.SessionVersion {
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
	}
	return tx.PutUserSignIn(ctx, si)
}

func withEmail(m map[string]any, email string) map[string]any {
	out := map[string]any{"email": email}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// errSSOAccount refuses a local password where single sign-on decides.
var errSSOAccount = Errorf(EFORBIDDEN, "this account signs in through single sign-on; an admin must allow it a local password first")

// localPasswordAllowed says whether u may have (and set) a local password.
func localPasswordAllowed(ctx context.Context, q Queries, u *User) error {
	si, err := q.UserSignInOf(ctx, u.ID)
	if ErrCode(err) == ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if !si.LocalPasswordPossible() {
		return errSSOAccount
	}
	return nil
}

// localLoginRefusal returns why u may not sign in with a password even
// though it was right ("" when it may): the global switch, the user's own
// switch, or an SSO account without an admin's allowance.
func localLoginRefusal(ctx context.Context, q Queries, u *User) (string, error) {
	off, err := localLoginDisabled(ctx, q)
	if err != nil {
		return "", err
	}
	if off {
		return "local_login_disabled", nil
	}
	si, err := q.UserSignInOf(ctx, u.ID)
	if ErrCode(err) == ENOTFOUND {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	switch {
	case si.LocalLoginDisabled:
		return "local_login_disabled", nil
	case !si.LocalPasswordPossible():
		return "sso_account", nil
	}
	return "", nil
}

func localLoginDisabled(ctx context.Context, q Queries) (bool, error) {
	v, err := q.Setting(ctx, LocalLoginSetting)
	if ErrCode(err) == ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", LocalLoginSetting, err)
	}
	return string(v) == "true", nil
}

// LocalLoginDisabled reports the global switch (Admin only).
func (s *Service) LocalLoginDisabled(ctx context.Context, actor Actor) (bool, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return false, err
	}
	return localLoginDisabled(ctx, s.store)
}

// SetLocalLoginDisabled turns password logins off or on for everyone
// (Admin only). Turning them off needs an enabled provider, so nobody is
// locked out by one click; API tokens keep working either way.
func (s *Service) SetLocalLoginDisabled(ctx context.Context, actor Actor, disabled bool) error {
	if err := actor.require(ActManageSettings); err != nil {
		return err
	}
	err := s.store.WithTx(ctx, func(tx Tx) error {
		old, err := localLoginDisabled(ctx, tx)
		if err != nil {
			return err
		}
		if old == disabled {
			return nil
		}
		if disabled {
			ps, err := tx.ListIdentityProviders(ctx)
			if err != nil {
				return err
			}
			enabled := false
			for _, p := range ps {
				enabled = enabled || p.Enabled
			}
			if !enabled {
				return Errorf(ECONFLICT, "enable an identity provider before turning password sign-in off")
			}
		}
		if err := tx.PutSetting(ctx, LocalLoginSetting, []byte(strconv.FormatBool(disabled))); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "settings.changed", "settings", LocalLoginSetting,
			map[string]any{"key": LocalLoginSetting, "from": old, "to": disabled})
	})
	if err != nil {
		return fmt.Errorf("set %s: %w", LocalLoginSetting, err)
	}
	return nil
}

// SignInPatch changes how one user may sign in; nil fields stay.
type SignInPatch struct {
	LocalLoginDisabled   *bool
	LocalPasswordAllowed *bool
}

// UserSignInOf returns how a user signs in (Admin only); a plain local
// account gets the zero row.
func (s *Service) UserSignInOf(ctx context.Context, actor Actor, userID int64) (*UserSignIn, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	if _, err := s.store.UserByID(ctx, userID); err != nil {
		return nil, err
	}
	si, err := s.store.UserSignInOf(ctx, userID)
	if ErrCode(err) == ENOTFOUND {
		return &UserSignIn{UserID: userID}, nil
	}
	return si, err
}

// UpdateUserSignIn changes a user's sign-in switches (Admin only).
// Withdrawing an SSO user's local password allowance removes the password
// and ends the user's sessions.
func (s *Service) UpdateUserSignIn(ctx context.Context, actor Actor, userID int64, pa SignInPatch) (*UserSignIn, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	var out *UserSignIn
	err := s.store.WithTx(ctx, func(tx Tx) error {
		u, err := tx.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if u.Kind == KindService {
			return Errorf(EINVALID, "%s is a service account: it never signs in", u.Email)
		}
		si, err := tx.UserSignInOf(ctx, userID)
		if ErrCode(err) == ENOTFOUND {
			si, err = &UserSignIn{UserID: userID}, nil
		}
		if err != nil {
			return err
		}
		changes := map[string]any{}
		if pa.LocalLoginDisabled != nil && *pa.LocalLoginDisabled != si.LocalLoginDisabled {
			si.LocalLoginDisabled = *pa.LocalLoginDisabled
			changes["local_login_disabled"] = si.LocalLoginDisabled
		}
		if pa.LocalPasswordAllowed != nil && *pa.LocalPasswordAllowed != si.LocalPasswordAllowed {
			if !si.SSO() {
				return Errorf(EINVALID, "%s is a local account: it has a password already", u.Email)
			}
			si.LocalPasswordAllowed = *pa.LocalPasswordAllowed
			changes["local_password_allowed"] = si.LocalPasswordAllowed
			if !si.LocalPasswordAllowed && u.HasPassword() {
				u.PasswordHash = nil
				u.SessionVersion++
				u.UpdatedAt = s.now().UTC()
				if err := tx.UpdateUser(ctx, u); err != nil {
					return err
				}
				if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
					return err
				}
				if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
					return err
				}
			}
		}
		out = si
		if len(changes) == 0 {
			return nil
		}
		if err := tx.PutUserSignIn(ctx, si); err != nil {
			return err
		}
		changes["email"] = u.Email
		return s.appendAudit(ctx, tx, actor, "user.sign_in_changed", "user", strconv.FormatInt(u.ID, 10), changes)
	})
	if err != nil {
		return nil, fmt.Errorf("update sign-in of user %d: %w", userID, err)
	}
	return out, nil
}

// mfaDelegated reports whether the user signs in through a provider trusted
// with the second factor.
func mfaDelegated(ctx context.Context, q Queries, userID int64) (bool, error) {
	si, err := q.UserSignInOf(ctx, userID)
	if ErrCode(err) == ENOTFOUND {
		return false, nil
	}
	if err != nil || !si.SSO() {
		return false, err
	}
	p, err := q.IdentityProviderByID(ctx, si.ProviderID)
	if err != nil {
		return false, err
	}
	return p.MFADelegated, nil
}
