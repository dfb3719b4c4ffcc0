package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpIssuer names the service in authenticator apps.
const totpIssuer = "Nexplane"

// EMFAENROLL refuses an API login of a user whom the MFA policy covers and
// who has no second factor yet: they must enrol in the console first.
const EMFAENROLL ErrorCode = "mfa_enrollment_required"

var (
	errMFAToken   = Errorf(EUNAUTHORIZED, "the login step has expired or was already used; log in again")
	errMFACode    = Errorf(EUNAUTHORIZED, "the code is incorrect or was already used")
	errNoMFASetup = Errorf(ECONFLICT, "two-factor authentication is not set up")
)

// MFAStatus is what the account page shows about a user's second factors.
type MFAStatus struct {
	Enrolled      bool         // at least one confirmed factor
	Factors       []FactorKind // confirmed factors
	Pending       bool         // a TOTP set-up waits for its first code
	Required      bool         // the policy covers the user
	RecoveryCodes int          // unused recovery codes left
	Policy        MFAPolicy
}

// MustEnroll reports whether the user must set up a factor before doing
// anything else.
func (st MFAStatus) MustEnroll() bool { return st.Required && !st.Enrolled }

// CanDisable reports whether the user may remove their factors themselves.
// A user the policy covers may turn the app off while a passkey remains.
func (st MFAStatus) CanDisable() bool {
	return st.Enrolled && (!st.Required || st.Has(FactorPasskey))
}

// MFAPolicy returns the mfa_required setting (off when never set).
func (s *Service) MFAPolicy(ctx context.Context) (MFAPolicy, error) {
	return mfaPolicy(ctx, s.store)
}

func mfaPolicy(ctx context.Context, q Queries) (MFAPolicy, error) {
	v, err := q.Setting(ctx, MFAPolicySetting)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return MFAOff, nil
		}
		return "", fmt.Errorf("read mfa policy: %w", err)
	}
	p, err := ParseMFAPolicy(string(v))
	if err != nil {
		return "", fmt.Errorf("stored mfa policy %q: %w", v, err)
	}
	return p, nil
}

// SetMFAPolicy changes mfa_required (Admin only).
func (s *Service) SetMFAPolicy(ctx context.Context, actor Actor, value string) (MFAPolicy, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return "", err
	}
	p, err := ParseMFAPolicy(value)
	if err != nil {
		return "", err
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		old, err := mfaPolicy(ctx, tx)
		if err != nil {
			return err
		}
		if old == p {
			return nil
		}
		if err := tx.PutSetting(ctx, MFAPolicySetting, []byte(p)); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "settings.changed", "settings", MFAPolicySetting,
			map[string]any{"key": MFAPolicySetting, "from": old, "to": p})
	})
	if err != nil {
		return "", fmt.Errorf("set mfa policy: %w", err)
	}
	return p, nil
}

// MFAStatusOf returns the actor's own second-factor status.
func (s *Service) MFAStatusOf(ctx context.Context, actor Actor) (MFAStatus, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return MFAStatus{}, err
	}
	return s.mfaStatus(ctx, s.store, id, actor.Role)
}

func (s *Service) mfaStatus(ctx context.Context, q Queries, userID int64, role Role) (MFAStatus, error) {
	var st MFAStatus
	p, err := mfaPolicy(ctx, q)
	if err != nil {
		return st, err
	}
	st.Policy, st.Required = p, p.Covers(role)
	if st.Required {
		// A provider trusted with the second factor checks it instead.
		delegated, err := mfaDelegated(ctx, q, userID)
		if err != nil {
			return st, fmt.Errorf("mfa delegation: %w", err)
		}
		st.Required = !delegated
	}
	factors, err := q.MFAFactors(ctx, userID)
	if err != nil {
		return st, fmt.Errorf("mfa factors: %w", err)
	}
	for _, f := range factors {
		if f.Confirmed() {
			st.Enrolled = true
			st.Factors = append(st.Factors, f.Kind)
		} else if f.Kind == FactorTOTP {
			st.Pending = true
		}
	}
	keys, err := q.PasskeysOf(ctx, userID)
	if err != nil {
		return st, fmt.Errorf("passkeys: %w", err)
	}
	if len(keys) > 0 {
		// A passkey is a second factor in use from its registration on.
		st.Enrolled = true
		st.Factors = append(st.Factors, FactorPasskey)
	}
	if st.Enrolled {
		if st.RecoveryCodes, err = q.CountRecoveryCodes(ctx, userID); err != nil {
			return st, fmt.Errorf("count recovery codes: %w", err)
		}
	}
	return st, nil
}

// MustEnrollMFA reports whether the policy covers the actor and they have no
// second factor yet; the console sends such a user to enrolment first.
func (s *Service) MustEnrollMFA(ctx context.Context, actor Actor) (bool, error) {
	if actor.Type != ActorUser {
		return false, nil
	}
	p, err := s.MFAPolicy(ctx)
	if err != nil || !p.Covers(actor.Role) {
		return false, err
	}
	st, err := s.MFAStatusOf(ctx, actor)
	if err != nil {
		return false, err
	}
	return st.MustEnroll(), nil
}

func actorUserID(actor Actor) (int64, error) {
	if actor.Type != ActorUser {
		return 0, Errorf(EFORBIDDEN, "only users have second factors")
	}
	id, err := strconv.ParseInt(actor.ID, 10, 64)
	if err != nil {
		return 0, Errorf(EFORBIDDEN, "only users have second factors")
	}
	return id, nil
}

// TOTPEnrollment is a TOTP set-up waiting for its first code: the secret in
// text and as an otpauth:// URL, and the URL's QR code as a PNG.
type TOTPEnrollment struct {
	Secret string
	URL    string
	QRPNG  []byte
}

// QRDataURL is the QR code as a data: URL for an <img>.
func (e *TOTPEnrollment) QRDataURL() string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRPNG)
}

// BeginTOTPEnrollment makes a new TOTP secret for the actor and keeps it,
// sealed and pending, until ConfirmTOTPEnrollment. Starting again replaces
// a pending secret; a user with TOTP in use must disable it first.
func (s *Service) BeginTOTPEnrollment(ctx context.Context, actor Actor) (*TOTPEnrollment, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return nil, err
	}
	if s.sealer == nil {
		return nil, Errorf(EUNAVAILABLE, "secret sealing is not configured")
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("begin totp enrolment: secret: %w", err)
	}
	enr, err := totpEnrollment(actor.Email, raw[:])
	if err != nil {
		return nil, fmt.Errorf("begin totp enrolment: %w", err)
	}
	sealed, err := s.sealer.Seal([]byte(enr.Secret), MFAFactorAD(id, FactorTOTP))
	if err != nil {
		return nil, fmt.Errorf("begin totp enrolment: seal: %w", err)
	}
	now := s.now().UTC()
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if f, err := totpFactor(ctx, tx, id); err != nil {
			return err
		} else if f != nil && f.Confirmed() {
			return Errorf(ECONFLICT, "an authenticator app is already set up; disable it first")
		}
		if err := tx.PutMFAFactor(ctx, &MFAFactor{UserID: id, Kind: FactorTOTP, Sealed: sealed, CreatedAt: now}); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "mfa.enrollment_started", "user", actor.ID,
			map[string]any{"email": actor.Email, "factor": FactorTOTP})
	})
	if err != nil {
		return nil, fmt.Errorf("begin totp enrolment: %w", err)
	}
	return enr, nil
}

// PendingTOTPEnrollment shows a pending set-up again (the page was
// reloaded); ENOTFOUND when there is none.
func (s *Service) PendingTOTPEnrollment(ctx context.Context, actor Actor) (*TOTPEnrollment, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return nil, err
	}
	f, err := totpFactor(ctx, s.store, id)
	if err != nil {
		return nil, err
	}
	if f == nil || f.Confirmed() {
		return nil, Errorf(ENOTFOUND, "no authenticator set-up is pending")
	}
	secret, err := s.openTOTP(f)
	if err != nil {
		return nil, err
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("pending totp: stored secret: %w", err)
	}
	return totpEnrollment(actor.Email, raw)
}

// totpEnrollment renders a secret for an authenticator app: base32 text,
// otpauth:// URL and its QR code.
func totpEnrollment(email string, secret []byte) (*TOTPEnrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: totpIssuer, AccountName: email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Secret: secret,
	})
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp qr png: %w", err)
	}
	return &TOTPEnrollment{Secret: key.Secret(), URL: key.URL(), QRPNG: buf.Bytes()}, nil
}

// ConfirmTOTPEnrollment checks the first code of the pending secret, puts
// the factor in use and returns new recovery codes, shown this once.
func (s *Service) ConfirmTOTPEnrollment(ctx context.Context, actor Actor, code string) ([]string, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return nil, err
	}
	codes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.store.WithTx(ctx, func(tx Tx) error {
		f, err := totpFactor(ctx, tx, id)
		if err != nil {
			return err
		}
		if f == nil || f.Confirmed() {
			return Errorf(ECONFLICT, "no authenticator set-up is pending; start again")
		}
		step, ok, err := s.checkTOTP(f, code, now)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(EINVALID, "the code does not match; check the device's clock and try the next code")
		}
		f.LastStep, f.ConfirmedAt = step, now.UTC()
		if err := tx.PutMFAFactor(ctx, f); err != nil {
			return err
		}
		if err := tx.ReplaceRecoveryCodes(ctx, id, hashCodes(codes), now); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "mfa.enrolled", "user", actor.ID,
			map[string]any{"email": actor.Email, "factor": FactorTOTP})
	})
	if err != nil {
		return nil, fmt.Errorf("confirm totp enrolment: %w", err)
	}
	return codes, nil
}

// RegenerateRecoveryCodes replaces the actor's recovery codes after a
// current code proves they hold the factor.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, actor Actor, code string) ([]string, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return nil, err
	}
	codes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.allowAccountCode(ctx, actor, id, now); err != nil {
		return nil, err
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := s.useSecondFactor(ctx, tx, actor, id, code, now, "regenerate_recovery_codes"); err != nil {
			return asInvalidCode(err)
		}
		if err := tx.ReplaceRecoveryCodes(ctx, id, hashCodes(codes), now); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "mfa.recovery_codes_regenerated", "user", actor.ID,
			map[string]any{"email": actor.Email})
	})
	if err != nil {
		s.countAccountCode(actor, err, now)
		return nil, fmt.Errorf("regenerate recovery codes: %w", err)
	}
	return codes, nil
}

// DisableMFA removes the actor's second factors and recovery codes, given
// their password and a current code, unless the policy requires MFA of them.
func (s *Service) DisableMFA(ctx context.Context, actor Actor, password, code string) error {
	id, err := actorUserID(actor)
	if err != nil {
		return err
	}
	st, err := s.MFAStatusOf(ctx, actor)
	if err != nil {
		return err
	}
	if !st.CanDisable() {
		return Errorf(EFORBIDDEN, "two-factor authentication is required for your role and cannot be turned off")
	}
	now := s.now()
	if err := s.allowAccountCode(ctx, actor, id, now); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return fmt.Errorf("disable mfa: %w", err)
	}
	if err := s.hasher.Compare(ctx, u.PasswordHash, password); err != nil {
		if errors.Is(err, ErrPasswordMismatch) {
			s.countAccountCode(actor, errInvalidPassword, now)
			return errInvalidPassword
		}
		return fmt.Errorf("disable mfa: compare password: %w", err)
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := s.useSecondFactor(ctx, tx, actor, id, code, now, "disable"); err != nil {
			return asInvalidCode(err)
		}
		if err := tx.DeleteMFA(ctx, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "mfa.disabled", "user", actor.ID, map[string]any{"email": u.Email})
	})
	if err != nil {
		s.countAccountCode(actor, err, now)
		return fmt.Errorf("disable mfa: %w", err)
	}
	return nil
}

// ResetMFA removes every second factor and recovery code of the user with
// email (Admin or the CLI), for someone who lost their device. Their
// sessions and tokens end; if the policy covers them they enrol again at
// their next login.
func (s *Service) ResetMFA(ctx context.Context, actor Actor, email string) (*User, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	var u *User
	err := s.store.WithTx(ctx, func(tx Tx) error {
		var err error
		if u, err = tx.UserByEmail(ctx, email); err != nil {
			return err
		}
		if err := tx.DeleteMFA(ctx, u.ID); err != nil {
			return err
		}
		if err := tx.DeletePasskeys(ctx, u.ID); err != nil {
			return err
		}
		u.SessionVersion++
		u.UpdatedAt = s.now().UTC()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "mfa.reset", "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"email": u.Email})
	})
	if err != nil {
		return nil, fmt.Errorf("reset mfa for %s: %w", truncateIdentifier(email), err)
	}
	return u, nil
}

// MFALoginInput completes a login that passed its password step.
type MFALoginInput struct {
	Token      string // the mfa_token, or the console's half-login cookie
	Code       string // a TOTP code or a recovery code
	ClientAddr string
	UserAgent  string // recorded with the console session
	Console    bool
}

// CompleteMFALogin checks the second factor of a half-finished login and,
// when it holds, finishes the login as Login would have. The token works
// once; wrong codes count against the same kind of limits as passwords.
func (s *Service) CompleteMFALogin(ctx context.Context, in MFALoginInput) (*LoginResult, error) {
	now := s.now()
	if in.Token == "" {
		return nil, errMFAToken
	}
	ch, err := s.store.MFAChallengeByID(ctx, sessionID(in.Token))
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, errMFAToken
		}
		return nil, fmt.Errorf("mfa login: %w", err)
	}
	if !now.Before(ch.ExpiresAt) || ch.Console != in.Console {
		return nil, errMFAToken
	}
	user, err := s.store.UserByID(ctx, ch.UserID)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, errMFAToken
		}
		return nil, fmt.Errorf("mfa login: %w", err)
	}
	if user.Disabled || user.SessionVersion != ch.SessionVersion {
		return nil, errMFAToken
	}
	account := "mfa:" + user.Email
	resetAt, err := s.loginThrottleReset(ctx, user.ID)
	if err != nil {
		return nil, fmt.Errorf("mfa login: %w", err)
	}
	if retry, ok := s.limiter.Allow(account, in.ClientAddr, now, resetAt); !ok {
		s.log.WarnContext(ctx, "mfa login rate limited", "client_addr", in.ClientAddr)
		secs := max(int(retry.Round(time.Second)/time.Second), 1)
		return nil, &Error{Code: ERATELIMITED, RetryAfter: retry,
			Message: fmt.Sprintf("too many wrong codes; try again in %d seconds", secs)}
	}
	via := "api"
	if in.Console {
		via = "console"
	}
	actor := UserActor(user)
	rid := strconv.FormatInt(user.ID, 10)
	res := &LoginResult{User: user}
	var wrong bool
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.DeleteMFAChallenge(ctx, ch.ID); err != nil {
			if ErrCode(err) == ENOTFOUND {
				return errMFAToken // another request used it first
			}
			return err
		}
		if err := s.useSecondFactor(ctx, tx, actor, user.ID, in.Code, now, "login"); err != nil {
			switch err {
			case errMFACode:
				wrong = true
			case errNoMFASetup: // reset meanwhile
				return errMFAToken
			}
			return err
		}
		if in.Console {
			token, sess, err := newSession(user, now, in.ClientAddr, in.UserAgent)
			if err != nil {
				return err
			}
			if err := tx.CreateSession(ctx, sess); err != nil {
				return fmt.Errorf("create session: %w", err)
			}
			res.SessionToken = token
		}
		method := "password+totp"
		if !looksLikeTOTP(strings.ReplaceAll(strings.TrimSpace(in.Code), " ", "")) {
			method = "password+recovery_code"
		}
		return s.appendAudit(ctx, tx, actor, "auth.login_succeeded", "user", rid,
			map[string]any{"via": via, "client_addr": in.ClientAddr, "mfa": true, "method": method})
	})
	if wrong {
		// The token stays usable (the transaction rolled back) until it
		// expires; the failure is counted and recorded.
		s.limiter.Fail(account, in.ClientAddr, now)
		if aerr := s.store.WithTx(ctx, func(tx Tx) error {
			return s.appendAudit(ctx, tx, actor, "auth.login_failed", "user", rid,
				map[string]any{"email": user.Email, "reason": "wrong_mfa_code", "via": via, "client_addr": in.ClientAddr})
		}); aerr != nil {
			return nil, fmt.Errorf("mfa login: record failure: %w", aerr)
		}
		return nil, errMFACode
	}
	if err != nil {
		if ErrCode(err) == EUNAUTHORIZED {
			return nil, err
		}
		return nil, fmt.Errorf("mfa login: %w", err)
	}
	s.limiter.Succeed(account, in.ClientAddr)
	return res, nil
}

// useSecondFactor accepts code as a current TOTP code (each time step once)
// or as an unused recovery code (consumed, and recorded), inside tx. A code
// that matches nothing is errMFACode.
func (s *Service) useSecondFactor(ctx context.Context, tx Tx, actor Actor, userID int64, code string, now time.Time, purpose string) error {
	code = strings.TrimSpace(code)
	if code == "" {
		return errMFACode
	}
	factors, err := tx.MFAFactors(ctx, userID)
	if err != nil {
		return err
	}
	enrolled := false
	for i := range factors {
		f := &factors[i]
		if !f.Confirmed() {
			continue
		}
		enrolled = true
		if f.Kind != FactorTOTP || !looksLikeTOTP(strings.ReplaceAll(code, " ", "")) {
			continue
		}
		step, ok, err := s.checkTOTP(f, strings.ReplaceAll(code, " ", ""), now)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		advanced, err := tx.AdvanceMFAStep(ctx, userID, f.Kind, step)
		if err != nil {
			return err
		}
		if advanced {
			return nil
		}
	}
	if !enrolled {
		return errNoMFASetup
	}
	if looksLikeTOTP(code) {
		return errMFACode
	}
	used, err := tx.UseRecoveryCode(ctx, userID, RecoveryCodeHash(code), now)
	if err != nil {
		return err
	}
	if !used {
		return errMFACode
	}
	left, err := tx.CountRecoveryCodes(ctx, userID)
	if err != nil {
		return err
	}
	return s.appendAudit(ctx, tx, actor, "mfa.recovery_code_used", "user", strconv.FormatInt(userID, 10),
		map[string]any{"email": actor.Email, "purpose": purpose, "remaining": left})
}

// checkTOTP finds the time step (within the allowed skew, after the last
// one used) whose code is code.
func (s *Service) checkTOTP(f *MFAFactor, code string, now time.Time) (int64, bool, error) {
	if !looksLikeTOTP(code) {
		return 0, false, nil
	}
	secret, err := s.openTOTP(f)
	if err != nil {
		return 0, false, err
	}
	cur := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		step := cur + d
		if step <= f.LastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			return 0, false, fmt.Errorf("totp code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true, nil
		}
	}
	return 0, false, nil
}

func (s *Service) openTOTP(f *MFAFactor) (string, error) {
	if s.sealer == nil {
		return "", Errorf(EUNAVAILABLE, "secret sealing is not configured")
	}
	b, err := s.sealer.Open(f.Sealed, MFAFactorAD(f.UserID, f.Kind))
	if err != nil {
		return "", fmt.Errorf("open totp secret of user %d: %w", f.UserID, err)
	}
	return string(b), nil
}

func totpFactor(ctx context.Context, q Queries, userID int64) (*MFAFactor, error) {
	factors, err := q.MFAFactors(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("mfa factors: %w", err)
	}
	for i := range factors {
		if factors[i].Kind == FactorTOTP {
			return &factors[i], nil
		}
	}
	return nil, nil
}

func hashCodes(codes []string) []string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = RecoveryCodeHash(c)
	}
	return out
}

// newMFAChallenge makes a random token and the challenge row keyed by its hash.
func newMFAChallenge(u *User, now time.Time, console bool) (string, *MFAChallenge, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("mfa token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	return token, &MFAChallenge{
		ID: sessionID(token), UserID: u.ID, SessionVersion: u.SessionVersion, Console: console,
		CreatedAt: now, ExpiresAt: now.Add(MFAChallengeTTL),
	}, nil
}

// asInvalidCode turns a wrong code of a logged-in user into a form error
// (an unauthorized answer would read as "your session ended").
func asInvalidCode(err error) error {
	if err == errMFACode {
		return errInvalidCode
	}
	return err
}

var (
	errInvalidCode     = Errorf(EINVALID, "the code is incorrect or was already used")
	errInvalidPassword = Errorf(EINVALID, "the password is incorrect")
)

// accountCodeAddr is the limiter's address for codes and passwords typed on
// the account page: the requests are authenticated, so the account's own
// pair counts them, apart from the login's.
const accountCodeAddr = "account-page"

// allowAccountCode refuses while too many wrong codes or passwords were
// typed on the account page (a stolen session must not guess codes).
func (s *Service) allowAccountCode(ctx context.Context, actor Actor, userID int64, now time.Time) error {
	resetAt, err := s.loginThrottleReset(ctx, userID)
	if err != nil {
		return err
	}
	if retry, ok := s.limiter.Allow("mfa:"+actor.Email, accountCodeAddr, now, resetAt); !ok {
		secs := max(int(retry.Round(time.Second)/time.Second), 1)
		return &Error{Code: ERATELIMITED, RetryAfter: retry,
			Message: fmt.Sprintf("too many wrong codes; try again in %d seconds", secs)}
	}
	return nil
}

// countAccountCode counts a wrong code or password typed on the account page.
func (s *Service) countAccountCode(actor Actor, err error, now time.Time) {
	if errors.Is(err, errInvalidCode) || errors.Is(err, errInvalidPassword) {
		s.limiter.Fail("mfa:"+actor.Email, accountCodeAddr, now)
	}
}

// ReadMFAPolicy returns mfa_required for the settings page (Admin only).
func (s *Service) ReadMFAPolicy(ctx context.Context, actor Actor) (MFAPolicy, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return "", err
	}
	return s.MFAPolicy(ctx)
}
