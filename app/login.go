package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// errBadCredentials is the one message for unknown users, wrong passwords
// and disabled accounts, so a caller cannot tell them apart.
var errBadCredentials = Errorf(EUNAUTHORIZED, "email or password is incorrect")

// errLocalLoginOff refuses a right password where password sign-in is off;
// only someone who knew the password learns why.
var errLocalLoginOff = Errorf(EFORBIDDEN, "password sign-in is turned off for this account: use single sign-on")

// LoginInput is one login attempt.
type LoginInput struct {
	Email      string
	Password   string
	ClientAddr string
	// UserAgent is the client's User-Agent, kept on console sessions.
	UserAgent string
	// Console asks for a server-side console session to be created in the
	// same transaction as the login's audit record.
	Console bool
}

// LoginResult is a successful login.
type LoginResult struct {
	User *User
	// SessionToken is the cookie secret for console logins; empty otherwise.
	SessionToken string
	// MFAToken, when set, means the password was right and the user has a
	// second factor: the login is not done until CompleteMFALogin gets
	// this token (single use, MFAChallengeTTL) with a code. No session was
	// made and no API token may be issued.
	MFAToken string
}

// Login checks credentials under the rate limits and records the outcome.
func (s *Service) Login(ctx context.Context, in LoginInput) (*LoginResult, error) {
	account := strings.ToLower(strings.TrimSpace(in.Email))
	now := s.now()

	user, lookupErr := s.store.UserByEmail(ctx, account)
	if lookupErr != nil && ErrCode(lookupErr) != ENOTFOUND {
		return nil, fmt.Errorf("login: look up user: %w", lookupErr)
	}
	var resetAt time.Time
	if user != nil {
		var err error
		if resetAt, err = s.loginThrottleReset(ctx, user.ID); err != nil {
			return nil, fmt.Errorf("login: %w", err)
		}
	}
	if retry, ok := s.limiter.Allow(account, in.ClientAddr, now, resetAt); !ok {
		s.log.WarnContext(ctx, "login rate limited", "client_addr", in.ClientAddr)
		secs := int(retry.Round(time.Second) / time.Second)
		if secs < 1 {
			secs = 1
		}
		return nil, &Error{Code: ERATELIMITED, RetryAfter: retry,
			Message: fmt.Sprintf("too many failed login attempts; try again in %d seconds", secs)}
	}

	// Always run one bcrypt comparison so unknown users cost the same time.
	hash := s.hasher.DummyHash()
	if user != nil && user.HasPassword() { // service accounts and invited users have none
		hash = user.PasswordHash
	}
	cmpErr := s.hasher.Compare(ctx, hash, in.Password)
	if cmpErr != nil && !errors.Is(cmpErr, ErrPasswordMismatch) {
		return nil, fmt.Errorf("login: compare password: %w", cmpErr)
	}

	reason := ""
	switch {
	case user == nil:
		reason = "unknown_user"
	case user.Kind == KindService:
		reason = "service_account"
	case !user.HasPassword():
		// Invited, and the invitation not yet accepted: no password to match.
		reason = "invitation_pending"
	case cmpErr != nil:
		reason = "wrong_password"
	case user.Disabled:
		reason = "disabled"
	}
	via := "api"
	if in.Console {
		via = "console"
	}

	if reason != "" {
		s.limiter.Fail(account, in.ClientAddr, now)
		// The identifier is whatever an unauthenticated client sent: the
		// audit record keeps no more of it than an email can be long.
		submitted := truncateIdentifier(account)
		actor := Actor{Type: ActorUser, Email: submitted}
		resourceID := ""
		if user != nil {
			actor = UserActor(user)
			resourceID = strconv.FormatInt(user.ID, 10)
		}
		err := s.store.WithTx(ctx, func(tx Tx) error {
			return s.appendAudit(ctx, tx, actor, "auth.login_failed", "user", resourceID,
				map[string]any{"email": submitted, "reason": reason, "via": via, "client_addr": in.ClientAddr})
		})
		if err != nil {
			return nil, fmt.Errorf("login: record failure: %w", err)
		}
		return nil, errBadCredentials
	}

	// The password was right; the sign-in switches may still say no.
	refusal, err := localLoginRefusal(ctx, s.store, user)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if refusal != "" {
		err := s.store.WithTx(ctx, func(tx Tx) error {
			return s.appendAudit(ctx, tx, UserActor(user), "auth.login_failed", "user", strconv.FormatInt(user.ID, 10),
				map[string]any{"email": user.Email, "reason": refusal, "via": via, "client_addr": in.ClientAddr})
		})
		if err != nil {
			return nil, fmt.Errorf("login: record refusal: %w", err)
		}
		return nil, errLocalLoginOff
	}

	s.limiter.Succeed(account, in.ClientAddr)
	res := &LoginResult{User: user}
	st, err := s.mfaStatus(ctx, s.store, user.ID, user.Role)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	switch {
	case st.Enrolled && !in.Console && !hasFactor(st.Factors, FactorTOTP) && st.RecoveryCodes == 0:
		// Passkeys answer in a browser only; the API has no second step
		// this user could complete.
		err := s.store.WithTx(ctx, func(tx Tx) error {
			return s.appendAudit(ctx, tx, UserActor(user), "auth.login_failed", "user", strconv.FormatInt(user.ID, 10),
				map[string]any{"email": user.Email, "reason": "mfa_passkey_console_only", "via": via, "client_addr": in.ClientAddr})
		})
		if err != nil {
			return nil, fmt.Errorf("login: record refusal: %w", err)
		}
		return nil, Errorf(EPASSKEYONLY, "your only second factor is a passkey, which works in the console only: "+
			"sign in to the console, or set up an authenticator app there to use the API")
	case st.Enrolled:
		return s.challengeMFA(ctx, user, now, in, via)
	case st.MustEnroll() && !in.Console:
		// The console lets them in to enrol; the API cannot enrol them.
		err := s.store.WithTx(ctx, func(tx Tx) error {
			return s.appendAudit(ctx, tx, UserActor(user), "auth.login_failed", "user", strconv.FormatInt(user.ID, 10),
				map[string]any{"email": user.Email, "reason": "mfa_enrollment_required", "via": via, "client_addr": in.ClientAddr})
		})
		if err != nil {
			return nil, fmt.Errorf("login: record refusal: %w", err)
		}
		return nil, Errorf(EMFAENROLL, "two-factor authentication is required for your account; log in to the console to set it up first")
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
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
		return s.appendAudit(ctx, tx, UserActor(user), "auth.login_succeeded", "user",
			strconv.FormatInt(user.ID, 10), map[string]any{"via": via, "client_addr": in.ClientAddr, "method": "password"})
	})
	if err != nil {
		return nil, fmt.Errorf("login: record success: %w", err)
	}
	return res, nil
}

// challengeMFA records a login that passed its password step and waits for
// the second factor.
func (s *Service) challengeMFA(ctx context.Context, user *User, now time.Time, in LoginInput, via string) (*LoginResult, error) {
	token, ch, err := newMFAChallenge(user, now, in.Console)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.CreateMFAChallenge(ctx, ch); err != nil {
			return fmt.Errorf("create mfa challenge: %w", err)
		}
		return s.appendAudit(ctx, tx, UserActor(user), "auth.mfa_challenged", "user", strconv.FormatInt(user.ID, 10),
			map[string]any{"via": via, "client_addr": in.ClientAddr})
	})
	if err != nil {
		return nil, fmt.Errorf("login: record password step: %w", err)
	}
	return &LoginResult{User: user, MFAToken: token}, nil
}

// newSession makes a random cookie token and the session row keyed by its hash.
func newSession(u *User, now time.Time, clientAddr, userAgent string) (string, *Session, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	return token, &Session{
		ID: sessionID(token), UserID: u.ID, SessionVersion: u.SessionVersion,
		CreatedAt: now, LastSeenAt: now, ClientAddr: clientAddr, UserAgent: truncateUserAgent(userAgent),
	}, nil
}

func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// errNoSession covers every reason a session cookie is not accepted.
var errNoSession = Errorf(EUNAUTHORIZED, "your session has ended; please log in again")

// sessionTouchInterval limits last-seen writes to one a minute per session.
const sessionTouchInterval = time.Minute

// ResolveSession returns the actor behind a console session token, enforcing
// idle and absolute timeouts and the user's current session version.
func (s *Service) ResolveSession(ctx context.Context, token string) (Actor, *Session, error) {
	if token == "" {
		return Actor{}, nil, errNoSession
	}
	now := s.now()
	sess, err := s.store.SessionByID(ctx, sessionID(token))
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return Actor{}, nil, errNoSession
		}
		return Actor{}, nil, fmt.Errorf("resolve session: %w", err)
	}
	user, err := s.store.UserByID(ctx, sess.UserID)
	if err != nil && ErrCode(err) != ENOTFOUND {
		return Actor{}, nil, fmt.Errorf("resolve session user: %w", err)
	}
	if err != nil || sess.Expired(now) || user.Disabled || user.SessionVersion != sess.SessionVersion || user.Kind == KindService {
		if derr := s.store.WithTx(ctx, func(tx Tx) error { return tx.DeleteSession(ctx, sess.ID) }); derr != nil {
			s.log.WarnContext(ctx, "delete dead session", "err", derr)
		}
		return Actor{}, nil, errNoSession
	}
	if now.Sub(sess.LastSeenAt) >= sessionTouchInterval {
		sess.LastSeenAt = now
		if err := s.store.WithTx(ctx, func(tx Tx) error { return tx.TouchSession(ctx, sess) }); err != nil {
			return Actor{}, nil, fmt.Errorf("touch session: %w", err)
		}
	}
	return UserActor(user), sess, nil
}

// SaveSessionData stores the web layer's opaque session values.
func (s *Service) SaveSessionData(ctx context.Context, sess *Session, data []byte) error {
	sess.Data = data
	sess.LastSeenAt = s.now()
	if err := s.store.WithTx(ctx, func(tx Tx) error { return tx.TouchSession(ctx, sess) }); err != nil {
		return fmt.Errorf("save session data: %w", err)
	}
	return nil
}

// Logout ends a console session server-side and records it.
func (s *Service) Logout(ctx context.Context, actor Actor, token string) error {
	err := s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.DeleteSession(ctx, sessionID(token)); err != nil && ErrCode(err) != ENOTFOUND {
			return fmt.Errorf("delete session: %w", err)
		}
		return s.appendAudit(ctx, tx, actor, "auth.logout", "user", actor.ID, map[string]any{"via": "console"})
	})
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// ResolveToken returns the actor for a verified API token's subject, refusing
// disabled users and tokens issued before the user's last security change.
func (s *Service) ResolveToken(ctx context.Context, userID, sessionVersion int64) (Actor, error) {
	user, err := s.store.UserByID(ctx, userID)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return Actor{}, Errorf(EUNAUTHORIZED, "invalid or expired token")
		}
		return Actor{}, fmt.Errorf("resolve token: %w", err)
	}
	if user.Disabled || user.SessionVersion != sessionVersion || user.Kind == KindService {
		return Actor{}, Errorf(EUNAUTHORIZED, "invalid or expired token")
	}
	return UserActor(user), nil
}

// PurgeExpiredSessions deletes sessions past their limits; run periodically.
func (s *Service) PurgeExpiredSessions(ctx context.Context) (int64, error) {
	var n int64
	err := s.store.WithTx(ctx, func(tx Tx) error {
		var err error
		if n, err = tx.DeleteExpiredSessions(ctx, s.now()); err != nil {
			return err
		}
		// Expired password links, half-finished logins and passkey
		// ceremonies are worthless; they go with the sessions.
		if _, err = tx.DeleteExpiredPasswordLinks(ctx, s.now()); err != nil {
			return err
		}
		if _, err = tx.DeleteExpiredMFAChallenges(ctx, s.now()); err != nil {
			return err
		}
		if _, err = tx.DeleteExpiredPasskeyCeremonies(ctx, s.now()); err != nil {
			return err
		}
		_, err = tx.DeleteExpiredSSOLogins(ctx, s.now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return n, nil
}
