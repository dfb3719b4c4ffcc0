package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// The WebAuthn ceremonies run in two requests: Begin* makes the challenge,
// keeps it server-side as a PasskeyCeremony and returns the options for
// navigator.credentials; Finish* (or Complete*) takes the ceremony once,
// checks it belongs to the same console session or half-finished login and
// has not expired, and has the go-webauthn library verify the browser's
// answer against it: challenge, RP ID, origin, user presence and, where
// required, user verification, the signature with the stored public key.
// Starting a ceremony is not audited (it changes nothing a user has); its
// outcome is.

var (
	errCeremony      = Errorf(EUNAUTHORIZED, "the passkey request has expired or was already used; try again")
	errPasskeyFailed = Errorf(EUNAUTHORIZED, "the passkey could not be verified")
	errPasskeyClone  = Errorf(EUNAUTHORIZED, "this passkey's signature counter went backwards, which suggests a copied key; it was refused")
)

// PasskeyBegin is a started ceremony: Options is the JSON the browser's
// navigator.credentials.create/get needs ({"publicKey": …}); Token names
// the ceremony and must come back with the answer (the console keeps it in
// a cookie).
type PasskeyBegin struct {
	Options []byte
	Token   string
}

// webauthnUser is a user as the library sees them.
type webauthnUser struct {
	u     *User
	creds []webauthn.Credential
}

func (w *webauthnUser) WebAuthnID() []byte                         { return userHandle(w.u.ID) }
func (w *webauthnUser) WebAuthnName() string                       { return w.u.Email }
func (w *webauthnUser) WebAuthnDisplayName() string                { return w.u.Email }
func (w *webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// userHandle is the WebAuthn user handle of a user: their id, 8 bytes.
func userHandle(id int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(id))
}

func toCredential(p Passkey) webauthn.Credential {
	c := webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, AttestationType: p.AttestationType,
		Flags:         webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(p.Flags)),
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}
	for _, t := range p.Transports {
		c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
	}
	return c
}

func (s *Service) webauthnUser(ctx context.Context, q Queries, u *User) (*webauthnUser, []Passkey, error) {
	keys, err := q.PasskeysOf(ctx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("passkeys of user: %w", err)
	}
	w := &webauthnUser{u: u}
	for _, p := range keys {
		w.creds = append(w.creds, toCredential(p))
	}
	return w, keys, nil
}

// relyingParty checks rp and makes the library's verifier for it.
func relyingParty(rp RelyingParty) (*webauthn.WebAuthn, error) {
	if rp.ID == "" || net.ParseIP(strings.Trim(rp.ID, "[]")) != nil {
		return nil, Errorf(EINVALID, "passkeys need the console to be reached by a host name, not an IP address; set NEXPLANE_PUBLIC_URL")
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: rp.ID, RPDisplayName: "Nexplane", RPOrigins: []string{rp.Origin},
		AttestationPreference: protocol.PreferNoAttestation,
	})
	if err != nil {
		return nil, Wrap(EINVALID, err, "passkeys are not available at this address")
	}
	return wa, nil
}

// Passkeys lists the actor's own passkeys.
func (s *Service) Passkeys(ctx context.Context, actor Actor) ([]Passkey, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.PasskeysOf(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return keys, nil
}

// newCeremony makes a random token and stores its ceremony.
func (s *Service) newCeremony(ctx context.Context, c *PasskeyCeremony, session *webauthn.SessionData, options any) (*PasskeyBegin, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("passkey ceremony token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	data, err := json.Marshal(session)
	if err != nil {
		return nil, fmt.Errorf("passkey ceremony data: %w", err)
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, fmt.Errorf("passkey options: %w", err)
	}
	now := s.now().UTC()
	c.ID, c.Data, c.CreatedAt, c.ExpiresAt = sessionID(token), data, now, now.Add(PasskeyCeremonyTTL)
	if err := s.store.WithTx(ctx, func(tx Tx) error { return tx.CreatePasskeyCeremony(ctx, c) }); err != nil {
		return nil, fmt.Errorf("start passkey ceremony: %w", err)
	}
	return &PasskeyBegin{Options: opts, Token: token}, nil
}

// takeCeremony consumes the ceremony named by token when it is of kind,
// bound to binding and alive. It is deleted in its own transaction, so a
// ceremony is used once whatever the answer's fate.
func (s *Service) takeCeremony(ctx context.Context, token string, kind CeremonyKind, binding string) (*PasskeyCeremony, *webauthn.SessionData, error) {
	if token == "" {
		return nil, nil, errCeremony
	}
	c, err := s.store.PasskeyCeremonyByID(ctx, sessionID(token))
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, nil, errCeremony
		}
		return nil, nil, fmt.Errorf("passkey ceremony: %w", err)
	}
	if c.Kind != kind || c.Binding != binding || !s.now().Before(c.ExpiresAt) {
		return nil, nil, errCeremony
	}
	err = s.store.WithTx(ctx, func(tx Tx) error { return tx.DeletePasskeyCeremony(ctx, c.ID) })
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, nil, errCeremony
		}
		return nil, nil, fmt.Errorf("take passkey ceremony: %w", err)
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return nil, nil, fmt.Errorf("passkey ceremony data: %w", err)
	}
	return c, &sd, nil
}

// ConsoleSessionBinding is what a logged-in user's ceremonies are bound to:
// the hash of their session token.
func ConsoleSessionBinding(sessionToken string) string { return "session:" + sessionID(sessionToken) }

// BeginPasskeyRegistration starts registering a passkey named name for the
// actor, bound to their console session. The credential must be
// discoverable (so it can sign in without a password) and verify the user.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, actor Actor, rp RelyingParty, sessionToken, name string) (*PasskeyBegin, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return nil, err
	}
	if name, err = ParsePasskeyName(name); err != nil {
		return nil, err
	}
	wa, err := relyingParty(rp)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	w, keys, err := s.webauthnUser(ctx, s.store, u)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if strings.EqualFold(k.Name, name) {
			return nil, Errorf(ECONFLICT, "you already have a passkey with this name")
		}
	}
	required := true
	creation, sd, err := wa.BeginRegistration(w,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: &required, ResidentKey: protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		}),
		webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	return s.newCeremony(ctx, &PasskeyCeremony{Kind: CeremonyRegister, UserID: id,
		Binding: ConsoleSessionBinding(sessionToken), Name: name}, sd, creation)
}

// FinishPasskeyRegistration checks the browser's answer (the JSON of the
// new PublicKeyCredential) and stores the passkey, audited.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, actor Actor, rp RelyingParty, sessionToken, ceremonyToken string, response []byte) (*Passkey, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return nil, err
	}
	wa, err := relyingParty(rp)
	if err != nil {
		return nil, err
	}
	c, sd, err := s.takeCeremony(ctx, ceremonyToken, CeremonyRegister, ConsoleSessionBinding(sessionToken))
	if err != nil {
		return nil, err
	}
	if c.UserID != id {
		return nil, errCeremony
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("finish passkey registration: %w", err)
	}
	w, _, err := s.webauthnUser(ctx, s.store, u)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		s.logPasskeyRefusal(ctx, "registration", err)
		return nil, Errorf(EINVALID, "the passkey's answer could not be read; try again")
	}
	cred, err := wa.CreateCredential(w, *sd, parsed)
	if err != nil {
		s.logPasskeyRefusal(ctx, "registration", err)
		return nil, Errorf(EINVALID, "the passkey could not be registered: its answer did not verify")
	}
	p := &Passkey{
		UserID: id, CredentialID: cred.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		AAGUID: cred.Authenticator.AAGUID, AttestationType: cred.AttestationType,
		Flags: uint8(cred.Flags.ProtocolValue()), Name: c.Name, CreatedAt: s.now().UTC(),
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.CreatePasskey(ctx, p); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "passkey.registered", "user", actor.ID, map[string]any{
			"email": u.Email, "passkey_id": p.ID, "name": p.Name, "aaguid": hex.EncodeToString(p.AAGUID)})
	})
	if err != nil {
		return nil, fmt.Errorf("register passkey: %w", err)
	}
	return p, nil
}

// logPasskeyRefusal logs why the library refused an answer (the details
// name the check, never a secret); the user sees a generic message.
func (s *Service) logPasskeyRefusal(ctx context.Context, what string, err error) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s.log.InfoContext(ctx, "passkey answer refused", "ceremony", what, "type", pe.Type, "details", pe.Details, "info", pe.DevInfo)
		return
	}
	s.log.InfoContext(ctx, "passkey answer refused", "ceremony", what, "err", err)
}

// BeginPasskeyLogin starts a passwordless sign-in: any discoverable passkey
// of this relying party, user verification required.
func (s *Service) BeginPasskeyLogin(ctx context.Context, rp RelyingParty) (*PasskeyBegin, error) {
	wa, err := relyingParty(rp)
	if err != nil {
		return nil, err
	}
	assertion, sd, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey login: %w", err)
	}
	return s.newCeremony(ctx, &PasskeyCeremony{Kind: CeremonyLogin}, sd, assertion)
}

// PasskeyLoginInput finishes a passwordless sign-in.
type PasskeyLoginInput struct {
	RP            RelyingParty
	CeremonyToken string
	Response      []byte // the JSON of the PublicKeyCredential
	ClientAddr    string
	UserAgent     string // recorded with the console session
}

// FinishPasskeyLogin checks a passwordless sign-in and starts a console
// session: the passkey verified its user, so no password or second step
// follows. The login record says method "passkey".
func (s *Service) FinishPasskeyLogin(ctx context.Context, in PasskeyLoginInput) (*LoginResult, error) {
	wa, err := relyingParty(in.RP)
	if err != nil {
		return nil, err
	}
	// Refused answers count against the client's address (no account is
	// known before the answer is checked), like wrong passwords do.
	now := s.now()
	if retry, ok := s.limiter.Allow("", in.ClientAddr, now, time.Time{}); !ok {
		secs := max(int(retry.Round(time.Second)/time.Second), 1)
		return nil, &Error{Code: ERATELIMITED, RetryAfter: retry,
			Message: fmt.Sprintf("too many failed sign-ins; try again in %d seconds", secs)}
	}
	_, sd, err := s.takeCeremony(ctx, in.CeremonyToken, CeremonyLogin, "")
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Response)
	if err != nil {
		s.logPasskeyRefusal(ctx, "login", err)
		s.limiter.Fail("", in.ClientAddr, now)
		return nil, errPasskeyFailed
	}
	key, err := s.store.PasskeyByCredentialID(ctx, parsed.RawID)
	if err != nil {
		if ErrCode(err) != ENOTFOUND {
			return nil, fmt.Errorf("passkey login: %w", err)
		}
		s.limiter.Fail("", in.ClientAddr, now)
		return nil, s.passkeyLoginFailed(ctx, nil, nil, "unknown_passkey", "passkey", in.ClientAddr)
	}
	user, err := s.store.UserByID(ctx, key.UserID)
	if err != nil {
		return nil, fmt.Errorf("passkey login: %w", err)
	}
	if user.Disabled {
		return nil, s.passkeyLoginFailed(ctx, user, key, "disabled", "passkey", in.ClientAddr)
	}
	w, _, err := s.webauthnUser(ctx, s.store, user)
	if err != nil {
		return nil, err
	}
	_, cred, err := wa.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
		if !bytes.Equal(handle, w.WebAuthnID()) {
			return nil, errors.New("user handle does not name the passkey's owner")
		}
		return w, nil
	}, *sd, parsed)
	if err != nil {
		s.logPasskeyRefusal(ctx, "login", err)
		s.limiter.Fail("", in.ClientAddr, now)
		return nil, s.passkeyLoginFailed(ctx, user, key, "passkey_invalid", "passkey", in.ClientAddr)
	}
	return s.passkeySignIn(ctx, user, key, cred, nil, "passkey", in.ClientAddr, in.UserAgent)
}

// passkeySignIn records a verified assertion (sign count, last use), ends
// the half-finished login if there is one and starts the session, in one
// transaction. A counter that did not advance is refused and audited.
func (s *Service) passkeySignIn(ctx context.Context, user *User, key *Passkey, cred *webauthn.Credential, ch *MFAChallenge, method, clientAddr, userAgent string) (*LoginResult, error) {
	if cred.Authenticator.CloneWarning {
		return nil, s.passkeyCloned(ctx, user, key, cred.Authenticator.SignCount, method, clientAddr)
	}
	now := s.now()
	res := &LoginResult{User: user}
	var cloned bool
	err := s.store.WithTx(ctx, func(tx Tx) error {
		if ch != nil {
			if err := tx.DeleteMFAChallenge(ctx, ch.ID); err != nil {
				if ErrCode(err) == ENOTFOUND {
					return errMFAToken
				}
				return err
			}
		}
		ok, err := tx.UsePasskey(ctx, key.ID, cred.Authenticator.SignCount, now.UTC())
		if err != nil {
			return err
		}
		if !ok {
			cloned = true
			return errPasskeyClone
		}
		token, sess, err := newSession(user, now, clientAddr, userAgent)
		if err != nil {
			return err
		}
		if err := tx.CreateSession(ctx, sess); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		res.SessionToken = token
		payload := map[string]any{"via": "console", "client_addr": clientAddr, "method": method,
			"passkey_id": key.ID, "passkey": key.Name}
		if ch != nil {
			payload["mfa"] = true
		}
		return s.appendAudit(ctx, tx, UserActor(user), "auth.login_succeeded", "user", strconv.FormatInt(user.ID, 10), payload)
	})
	if cloned {
		return nil, s.passkeyCloned(ctx, user, key, cred.Authenticator.SignCount, method, clientAddr)
	}
	if err != nil {
		if ErrCode(err) == EUNAUTHORIZED {
			return nil, err
		}
		return nil, fmt.Errorf("passkey sign-in: %w", err)
	}
	return res, nil
}

// passkeyCloned records a refused sign-count regression.
func (s *Service) passkeyCloned(ctx context.Context, user *User, key *Passkey, got uint32, method, clientAddr string) error {
	err := s.store.WithTx(ctx, func(tx Tx) error {
		return s.appendAudit(ctx, tx, UserActor(user), "passkey.sign_count_regressed", "user", strconv.FormatInt(user.ID, 10),
			map[string]any{"email": user.Email, "passkey_id": key.ID, "passkey": key.Name, "stored": key.SignCount,
				"received": got, "method": method, "client_addr": clientAddr})
	})
	if err != nil {
		return fmt.Errorf("passkey sign-in: record sign count regression: %w", err)
	}
	return errPasskeyClone
}

// passkeyLoginFailed records a refused passkey sign-in and returns the one
// refusal a client sees.
func (s *Service) passkeyLoginFailed(ctx context.Context, user *User, key *Passkey, reason, method, clientAddr string) error {
	actor, rid := Actor{Type: ActorUser}, ""
	payload := map[string]any{"reason": reason, "via": "console", "method": method, "client_addr": clientAddr}
	if user != nil {
		actor, rid = UserActor(user), strconv.FormatInt(user.ID, 10)
		payload["email"] = user.Email
	}
	if key != nil {
		payload["passkey_id"] = key.ID
	}
	err := s.store.WithTx(ctx, func(tx Tx) error {
		return s.appendAudit(ctx, tx, actor, "auth.login_failed", "user", rid, payload)
	})
	if err != nil {
		return fmt.Errorf("passkey login: record failure: %w", err)
	}
	return errPasskeyFailed
}

// liveConsoleChallenge returns the half-finished console login named by
// token and its user, or errMFAToken.
func (s *Service) liveConsoleChallenge(ctx context.Context, token string) (*MFAChallenge, *User, error) {
	if token == "" {
		return nil, nil, errMFAToken
	}
	ch, err := s.store.MFAChallengeByID(ctx, sessionID(token))
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, nil, errMFAToken
		}
		return nil, nil, fmt.Errorf("mfa login: %w", err)
	}
	if !s.now().Before(ch.ExpiresAt) || !ch.Console {
		return nil, nil, errMFAToken
	}
	user, err := s.store.UserByID(ctx, ch.UserID)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, nil, errMFAToken
		}
		return nil, nil, fmt.Errorf("mfa login: %w", err)
	}
	if user.Disabled || user.SessionVersion != ch.SessionVersion {
		return nil, nil, errMFAToken
	}
	return ch, user, nil
}

// HasPasskeyForMFA reports whether the half-finished console login named
// by token may be completed with a passkey (the second step offers it).
func (s *Service) HasPasskeyForMFA(ctx context.Context, token string) (bool, error) {
	_, user, err := s.liveConsoleChallenge(ctx, token)
	if err != nil {
		if ErrCode(err) == EUNAUTHORIZED {
			return false, nil
		}
		return false, err
	}
	keys, err := s.store.PasskeysOf(ctx, user.ID)
	if err != nil {
		return false, fmt.Errorf("passkeys of user: %w", err)
	}
	return len(keys) > 0, nil
}

// BeginPasskeyMFA starts the second login step with a passkey: an
// assertion against the user's own passkeys, bound to the half-finished
// login named by mfaToken.
func (s *Service) BeginPasskeyMFA(ctx context.Context, rp RelyingParty, mfaToken string) (*PasskeyBegin, error) {
	wa, err := relyingParty(rp)
	if err != nil {
		return nil, err
	}
	ch, user, err := s.liveConsoleChallenge(ctx, mfaToken)
	if err != nil {
		return nil, err
	}
	w, _, err := s.webauthnUser(ctx, s.store, user)
	if err != nil {
		return nil, err
	}
	if len(w.creds) == 0 {
		return nil, Errorf(ECONFLICT, "you have no passkey; enter a code instead")
	}
	assertion, sd, err := wa.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, fmt.Errorf("begin passkey second step: %w", err)
	}
	return s.newCeremony(ctx, &PasskeyCeremony{Kind: CeremonyMFA, UserID: user.ID, Binding: "mfa:" + ch.ID}, sd, assertion)
}

// PasskeyMFAInput completes a half-finished console login with a passkey.
type PasskeyMFAInput struct {
	RP            RelyingParty
	Token         string // the half-login cookie's token
	CeremonyToken string
	Response      []byte
	ClientAddr    string
	UserAgent     string // recorded with the console session
}

// CompleteMFALoginPasskey finishes a login that passed its password step
// with a passkey assertion; the record says method "password+passkey".
// Refusals count against the same limits as wrong codes.
func (s *Service) CompleteMFALoginPasskey(ctx context.Context, in PasskeyMFAInput) (*LoginResult, error) {
	wa, err := relyingParty(in.RP)
	if err != nil {
		return nil, err
	}
	ch, user, err := s.liveConsoleChallenge(ctx, in.Token)
	if err != nil {
		return nil, err
	}
	now := s.now()
	account := "mfa:" + user.Email
	resetAt, err := s.loginThrottleReset(ctx, user.ID)
	if err != nil {
		return nil, fmt.Errorf("mfa login: %w", err)
	}
	if retry, ok := s.limiter.Allow(account, in.ClientAddr, now, resetAt); !ok {
		secs := max(int(retry.Round(time.Second)/time.Second), 1)
		return nil, &Error{Code: ERATELIMITED, RetryAfter: retry,
			Message: fmt.Sprintf("too many failed attempts; try again in %d seconds", secs)}
	}
	c, sd, err := s.takeCeremony(ctx, in.CeremonyToken, CeremonyMFA, "mfa:"+ch.ID)
	if err != nil {
		return nil, err
	}
	if c.UserID != user.ID {
		return nil, errCeremony
	}
	w, keys, err := s.webauthnUser(ctx, s.store, user)
	if err != nil {
		return nil, err
	}
	fail := func(reason string, key *Passkey) error {
		s.limiter.Fail(account, in.ClientAddr, now)
		return s.passkeyLoginFailed(ctx, user, key, reason, "password+passkey", in.ClientAddr)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Response)
	if err != nil {
		s.logPasskeyRefusal(ctx, "mfa", err)
		return nil, fail("passkey_invalid", nil)
	}
	var key *Passkey
	for i := range keys {
		if bytes.Equal(keys[i].CredentialID, parsed.RawID) {
			key = &keys[i]
		}
	}
	if key == nil {
		return nil, fail("unknown_passkey", nil)
	}
	cred, err := wa.ValidateLogin(w, *sd, parsed)
	if err != nil {
		s.logPasskeyRefusal(ctx, "mfa", err)
		return nil, fail("passkey_invalid", key)
	}
	res, err := s.passkeySignIn(ctx, user, key, cred, ch, "password+passkey", in.ClientAddr, in.UserAgent)
	if err != nil {
		return nil, err
	}
	s.limiter.Succeed(account, in.ClientAddr)
	return res, nil
}

// BeginPasskeyReauth starts a fresh assertion with one of the actor's
// passkeys, bound to their console session (to remove a passkey).
func (s *Service) BeginPasskeyReauth(ctx context.Context, actor Actor, rp RelyingParty, sessionToken string) (*PasskeyBegin, error) {
	id, err := actorUserID(actor)
	if err != nil {
		return nil, err
	}
	wa, err := relyingParty(rp)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("begin passkey re-authentication: %w", err)
	}
	w, _, err := s.webauthnUser(ctx, s.store, u)
	if err != nil {
		return nil, err
	}
	if len(w.creds) == 0 {
		return nil, Errorf(ECONFLICT, "you have no passkey")
	}
	assertion, sd, err := wa.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey re-authentication: %w", err)
	}
	return s.newCeremony(ctx, &PasskeyCeremony{Kind: CeremonyReauth, UserID: id,
		Binding: ConsoleSessionBinding(sessionToken)}, sd, assertion)
}

// RemovePasskeyInput removes one of the actor's passkeys after
// re-authentication: their current password, or a fresh assertion of one
// of their passkeys (ceremony token and answer).
type RemovePasskeyInput struct {
	PasskeyID     int64
	Password      string
	RP            RelyingParty
	SessionToken  string
	CeremonyToken string
	Response      []byte
}

// RemovePasskey deletes one of the actor's passkeys, audited. The last
// second factor of a user the policy covers cannot be removed.
func (s *Service) RemovePasskey(ctx context.Context, actor Actor, in RemovePasskeyInput) error {
	id, err := actorUserID(actor)
	if err != nil {
		return err
	}
	now := s.now()
	if err := s.allowAccountCode(ctx, actor, id, now); err != nil {
		return err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return fmt.Errorf("remove passkey: %w", err)
	}
	w, keys, err := s.webauthnUser(ctx, s.store, u)
	if err != nil {
		return err
	}
	var target *Passkey
	for i := range keys {
		if keys[i].ID == in.PasskeyID {
			target = &keys[i]
		}
	}
	if target == nil {
		return Errorf(ENOTFOUND, "passkey not found")
	}
	st, err := s.mfaStatus(ctx, s.store, id, actor.Role)
	if err != nil {
		return err
	}
	if st.Required && len(keys) == 1 && !hasFactor(st.Factors, FactorTOTP) {
		return Errorf(EFORBIDDEN, "two-factor authentication is required for your role: register another passkey or set up an authenticator app before removing your last passkey")
	}
	reauth := "password"
	var used *Passkey
	var usedCount uint32
	if in.CeremonyToken != "" || len(in.Response) > 0 {
		reauth = "passkey"
		wa, err := relyingParty(in.RP)
		if err != nil {
			return err
		}
		c, sd, err := s.takeCeremony(ctx, in.CeremonyToken, CeremonyReauth, ConsoleSessionBinding(in.SessionToken))
		if err != nil {
			return err
		}
		if c.UserID != id {
			return errCeremony
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Response)
		if err != nil {
			s.logPasskeyRefusal(ctx, "reauth", err)
			return Errorf(EINVALID, "the passkey could not be verified")
		}
		cred, err := wa.ValidateLogin(w, *sd, parsed)
		if err != nil {
			s.logPasskeyRefusal(ctx, "reauth", err)
			s.countAccountCode(actor, errInvalidCode, now)
			return Errorf(EINVALID, "the passkey could not be verified")
		}
		for i := range keys {
			if bytes.Equal(keys[i].CredentialID, cred.ID) {
				used = &keys[i]
			}
		}
		if used == nil {
			return Errorf(EINVALID, "the passkey could not be verified")
		}
		if cred.Authenticator.CloneWarning {
			return asInvalidClone(s.passkeyCloned(ctx, u, used, cred.Authenticator.SignCount, "reauth", accountCodeAddr))
		}
		usedCount = cred.Authenticator.SignCount
	} else {
		if err := s.hasher.Compare(ctx, u.PasswordHash, in.Password); err != nil {
			if errors.Is(err, ErrPasswordMismatch) {
				s.countAccountCode(actor, errInvalidPassword, now)
				return errInvalidPassword
			}
			return fmt.Errorf("remove passkey: compare password: %w", err)
		}
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if used != nil && used.ID != target.ID {
			ok, err := tx.UsePasskey(ctx, used.ID, usedCount, now.UTC())
			if err != nil {
				return err
			}
			if !ok {
				return Errorf(EINVALID, "the passkey could not be verified")
			}
		}
		if err := tx.DeletePasskey(ctx, id, target.ID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "passkey.removed", "user", actor.ID, map[string]any{
			"email": u.Email, "passkey_id": target.ID, "name": target.Name, "reauth": reauth})
	})
	if err != nil {
		return fmt.Errorf("remove passkey: %w", err)
	}
	return nil
}

func asInvalidClone(err error) error {
	if err == errPasskeyClone {
		return Errorf(EINVALID, "%s", errPasskeyClone.Message)
	}
	return err
}

func hasFactor(fs []FactorKind, k FactorKind) bool {
	for _, f := range fs {
		if f == k {
			return true
		}
	}
	return false
}
