package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// Invitations, reset links and self-service passwords.
//
// Console and API create users without a password: the user gets a one-time
// link (InvitationTTL) where they choose it. Admins never choose passwords
// for others; they ask for a reset link (ResetLinkTTL) instead. A link is a
// random token whose SHA-256 alone is stored; using it deletes it.
//
// Mail seam: there is no mail yet. When it comes, InviteUser and
// RequestPasswordReset hand LinkResult.Path (joined to the public base URL)
// to a mailer after their transaction commits; nothing else changes.

// InviteInput is an admin's request for a new user.
type InviteInput struct {
	Email string
	Role  string
	// Reveal keeps the token sealed for the admin's one-time console
	// reveal (RevealPasswordLink); the API returns it directly instead.
	Reveal bool
}

// LinkResult is a fresh password link: shown once, never stored in clear.
type LinkResult struct {
	User      *User
	Purpose   LinkPurpose
	Token     string
	ExpiresAt time.Time
}

// Path is the console path of the link (join it to the public base URL).
func (l *LinkResult) Path() string { return l.Purpose.Path(l.Token) }

// HasPassword reports whether the user has set a password (an invited user
// has not until they accept the invitation).
func (u *User) HasPassword() bool { return len(u.PasswordHash) > 0 }

// InviteUser creates a user without a password and their invitation link
// (Admin only), in one transaction with user.invited.
func (s *Service) InviteUser(ctx context.Context, actor Actor, in InviteInput) (*LinkResult, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	role, err := ParseRole(in.Role)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u := &User{Email: email, PasswordHash: []byte{}, Role: role, SessionVersion: 1, CreatedAt: now, UpdatedAt: now}
	var res *LinkResult
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		var err error
		if res, err = s.newPasswordLink(ctx, tx, actor, u, LinkInvite, in.Reveal, now); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "user.invited", "user", idString(u.ID),
			map[string]any{"email": u.Email, "role": u.Role, "expires_at": res.ExpiresAt.Format(time.RFC3339)})
	})
	if err != nil {
		return nil, fmt.Errorf("invite user %s: %w", email, err)
	}
	return res, nil
}

// RequestPasswordReset makes a reset link for a user (Admin only). It
// replaces the user's earlier links; the current password keeps working
// until the link is used.
func (s *Service) RequestPasswordReset(ctx context.Context, actor Actor, id int64, reveal bool) (*LinkResult, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var res *LinkResult
	err := s.store.WithTx(ctx, func(tx Tx) error {
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		if u.Disabled {
			return Errorf(ECONFLICT, "%s is disabled; enable the account before sending a reset link", u.Email)
		}
		purpose := LinkReset
		if !u.HasPassword() {
			// Someone who never accepted their invitation gets a new one.
			purpose = LinkInvite
		}
		if res, err = s.newPasswordLink(ctx, tx, actor, u, purpose, reveal, now); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "user.password_reset_requested", "user", idString(u.ID),
			map[string]any{"email": u.Email, "purpose": purpose, "expires_at": res.ExpiresAt.Format(time.RFC3339)})
	})
	if err != nil {
		return nil, fmt.Errorf("reset link for user %d: %w", id, err)
	}
	return res, nil
}

// newPasswordLink replaces the user's links with a new one, inside tx.
func (s *Service) newPasswordLink(ctx context.Context, tx Tx, actor Actor, u *User, purpose LinkPurpose, reveal bool, now time.Time) (*LinkResult, error) {
	if err := localPasswordAllowed(ctx, tx, u); err != nil {
		return nil, err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("password link token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	l := &PasswordLink{ID: linkID(token), UserID: u.ID, Purpose: purpose, CreatedBy: actor.ID,
		CreatedAt: now, ExpiresAt: now.Add(purpose.ttl())}
	if actor.Type != ActorUser {
		l.CreatedBy = ""
	}
	if reveal {
		if s.sealer == nil {
			return nil, errors.New("password link reveal: no sealer configured")
		}
		sealed, err := s.sealer.Seal([]byte(token), linkRevealAD(l.ID))
		if err != nil {
			return nil, fmt.Errorf("seal password link: %w", err)
		}
		l.Reveal = sealed
	}
	if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
		return nil, err
	}
	if err := tx.CreatePasswordLink(ctx, l); err != nil {
		return nil, err
	}
	return &LinkResult{User: u, Purpose: purpose, Token: token, ExpiresAt: l.ExpiresAt}, nil
}

// RevealPasswordLink returns, once, the link the actor made for user id
// within LinkRevealTTL, and erases the sealed copy. The console shows it
// on a page of its own, after a redirect, so no POST response carries it.
func (s *Service) RevealPasswordLink(ctx context.Context, actor Actor, id int64) (*LinkResult, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	now := s.now()
	var res *LinkResult
	unreadable := false
	err := s.store.WithTx(ctx, func(tx Tx) error {
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		links, err := tx.PasswordLinksOfUser(ctx, id)
		if err != nil {
			return err
		}
		for _, l := range links {
			if len(l.Reveal) == 0 || l.CreatedBy != actor.ID || !now.Before(l.ExpiresAt) ||
				now.Sub(l.CreatedAt) > LinkRevealTTL {
				continue
			}
			if err := tx.ClearPasswordLinkReveal(ctx, l.ID); err != nil {
				return err
			}
			plain, err := s.sealer.Open(l.Reveal, linkRevealAD(l.ID))
			if err != nil {
				// Reveals live minutes and rekey leaves them alone: one
				// sealed under a key since dropped cannot be shown.
				s.log.WarnContext(ctx, "password link reveal unreadable", "user_id", u.ID, "err", err)
				unreadable = true
				return nil
			}
			res = &LinkResult{User: u, Purpose: l.Purpose, Token: string(plain), ExpiresAt: l.ExpiresAt}
			return s.appendAudit(ctx, tx, actor, "user.password_link_revealed", "user", idString(u.ID),
				map[string]any{"email": u.Email, "purpose": l.Purpose})
		}
		return Errorf(ENOTFOUND, "there is no link to show: it was shown already or is older than %s; send a new one", LinkRevealTTL)
	})
	if err != nil {
		return nil, fmt.Errorf("reveal password link of user %d: %w", id, err)
	}
	if unreadable {
		return nil, Errorf(ENOTFOUND, "the link can no longer be shown (the server key changed); send a new one")
	}
	return res, nil
}

// errBadLink is every reason a password link is not accepted.
var errBadLink = Errorf(ENOTFOUND, "this link is not valid: it may have expired, been used or been replaced by a newer one; ask an admin for a new link")

// LinkInfo is what the set-password page shows about a valid link.
type LinkInfo struct {
	Email     string
	Purpose   LinkPurpose
	ExpiresAt time.Time
}

// PasswordLinkInfo checks a link token for the set-password page.
func (s *Service) PasswordLinkInfo(ctx context.Context, token string, purpose LinkPurpose) (*LinkInfo, error) {
	l, u, err := s.validLink(ctx, s.store, token, purpose)
	if err != nil {
		return nil, err
	}
	return &LinkInfo{Email: u.Email, Purpose: l.Purpose, ExpiresAt: l.ExpiresAt}, nil
}

func (s *Service) validLink(ctx context.Context, q Queries, token string, purpose LinkPurpose) (*PasswordLink, *User, error) {
	if token == "" || len(token) > 100 {
		return nil, nil, errBadLink
	}
	l, err := q.PasswordLinkByID(ctx, linkID(token))
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, nil, errBadLink
		}
		return nil, nil, fmt.Errorf("password link: %w", err)
	}
	if l.Purpose != purpose || !s.now().Before(l.ExpiresAt) {
		return nil, nil, errBadLink
	}
	u, err := q.UserByID(ctx, l.UserID)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, nil, errBadLink
		}
		return nil, nil, fmt.Errorf("password link user: %w", err)
	}
	if u.Disabled {
		return nil, nil, errBadLink
	}
	return l, u, nil
}

// AcceptLinkInput sets a password through a link.
type AcceptLinkInput struct {
	Token      string
	Purpose    LinkPurpose
	Password   string
	ClientAddr string
	UserAgent  string
}

// AcceptPasswordLink sets the user's password through a valid link, once:
// the link is consumed, the user's other sessions end and a console session
// starts, all in one transaction with user.invitation_accepted (or
// user.password_changed for a reset) and the login's record.
func (s *Service) AcceptPasswordLink(ctx context.Context, in AcceptLinkInput) (*LoginResult, error) {
	_, u, err := s.validLink(ctx, s.store, in.Token, in.Purpose)
	if err != nil {
		return nil, err
	}
	if err := ValidatePassword(in.Password, u.Email); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, fmt.Errorf("accept password link: hash: %w", err)
	}
	now := s.now()
	res := &LoginResult{}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		// Consuming the row is what makes the link single-use: of two
		// requests racing with one link, the second finds nothing.
		l, err := tx.ConsumePasswordLink(ctx, linkID(in.Token))
		if err != nil {
			if ErrCode(err) == ENOTFOUND {
				return errBadLink
			}
			return err
		}
		if l.Purpose != in.Purpose || !now.Before(l.ExpiresAt) {
			return errBadLink
		}
		u, err := tx.UserByID(ctx, l.UserID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return errBadLink
		}
		if err := localPasswordAllowed(ctx, tx, u); err != nil {
			return err
		}
		u.PasswordHash = hash
		u.SessionVersion++
		u.UpdatedAt = now.UTC()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
			return err
		}
		// A new password ends every API token too: whoever knew the old
		// one may have made some.
		if _, err := tx.RevokeUserTokens(ctx, u.ID, now); err != nil {
			return err
		}
		res.User = u
		actor, rid := UserActor(u), idString(u.ID)
		event, payload := "user.invitation_accepted", map[string]any{"email": u.Email, "client_addr": in.ClientAddr}
		if l.Purpose == LinkReset {
			event, payload = "user.password_changed", map[string]any{"email": u.Email, "via": "reset_link", "client_addr": in.ClientAddr}
		}
		if err := s.appendAudit(ctx, tx, actor, event, "user", rid, payload); err != nil {
			return err
		}
		// A link proves the password step only: a user with a second factor
		// logs in with it as usual (SessionToken stays empty), so a reset
		// link in the wrong hands does not get past MFA.
		mfa, err := s.mfaStatus(ctx, tx, u.ID, u.Role)
		if err != nil || mfa.Enrolled {
			return err
		}
		token, sess, err := newSession(u, now, in.ClientAddr, in.UserAgent)
		if err != nil {
			return err
		}
		if err := tx.CreateSession(ctx, sess); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		res.SessionToken = token
		return s.appendAudit(ctx, tx, actor, "auth.login_succeeded", "user", rid,
			map[string]any{"via": "console", "client_addr": in.ClientAddr})
	})
	if err != nil {
		return nil, fmt.Errorf("accept password link: %w", err)
	}
	return res, nil
}

// ChangePasswordInput is a user's own password change.
type ChangePasswordInput struct {
	Current    string
	New        string
	ClientAddr string
	UserAgent  string
	// Console re-issues the caller's console session under the new
	// session version (every other session ends).
	Console bool
}

// ChangePassword sets the actor's own password after checking the current
// one under the login rate limits. Every other session and token ends: the
// session version moves, sessions are deleted, and for a console caller a
// new session replaces the current one in the same transaction.
func (s *Service) ChangePassword(ctx context.Context, actor Actor, in ChangePasswordInput) (*LoginResult, error) {
	if actor.Type != ActorUser {
		return nil, Errorf(EFORBIDDEN, "only a user can change their own password")
	}
	id := userID(actor)
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	now := s.now()
	resetAt, err := s.loginThrottleReset(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	if retry, ok := s.limiter.Allow(u.Email, in.ClientAddr, now, resetAt); !ok {
		secs := max(int(retry.Round(time.Second)/time.Second), 1)
		return nil, &Error{Code: ERATELIMITED, RetryAfter: retry,
			Message: fmt.Sprintf("too many wrong passwords; try again in %d seconds", secs)}
	}
	hash := u.PasswordHash
	if !u.HasPassword() {
		hash = s.hasher.DummyHash()
	}
	cmpErr := s.hasher.Compare(ctx, hash, in.Current)
	if cmpErr != nil && !errors.Is(cmpErr, ErrPasswordMismatch) {
		return nil, fmt.Errorf("change password: compare: %w", cmpErr)
	}
	if cmpErr != nil || !u.HasPassword() {
		s.limiter.Fail(u.Email, in.ClientAddr, now)
		err := s.store.WithTx(ctx, func(tx Tx) error {
			return s.appendAudit(ctx, tx, actor, "user.password_change_failed", "user", idString(u.ID),
				map[string]any{"email": u.Email, "reason": "wrong_password", "client_addr": in.ClientAddr})
		})
		if err != nil {
			return nil, fmt.Errorf("change password: record failure: %w", err)
		}
		return nil, Errorf(EFORBIDDEN, "the current password is incorrect")
	}
	if in.New == in.Current {
		return nil, Errorf(EINVALID, "the new password must differ from the current one")
	}
	if err := ValidatePassword(in.New, u.Email); err != nil {
		return nil, err
	}
	newHash, err := s.hasher.Hash(ctx, in.New)
	if err != nil {
		return nil, fmt.Errorf("change password: hash: %w", err)
	}
	s.limiter.Succeed(u.Email, in.ClientAddr)
	res := &LoginResult{}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		if u.Disabled || u.SessionVersion != actor.SessionVersion {
			return errNoSession
		}
		u.PasswordHash = newHash
		u.SessionVersion++
		u.UpdatedAt = now.UTC()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		// A new password ends every API token too: whoever knew the old
		// one may have made some.
		if _, err := tx.RevokeUserTokens(ctx, u.ID, now); err != nil {
			return err
		}
		if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
			return err
		}
		if in.Console {
			token, sess, err := newSession(u, now, in.ClientAddr, in.UserAgent)
			if err != nil {
				return err
			}
			if err := tx.CreateSession(ctx, sess); err != nil {
				return fmt.Errorf("create session: %w", err)
			}
			res.SessionToken = token
		}
		res.User = u
		return s.appendAudit(ctx, tx, actor, "user.password_changed", "user", idString(u.ID),
			map[string]any{"email": u.Email, "via": "self", "client_addr": in.ClientAddr})
	})
	if err != nil {
		return nil, fmt.Errorf("change password: %w", err)
	}
	return res, nil
}

// SessionInfo is one console session as the account pages show it.
type SessionInfo struct {
	Handle     string // SessionHandle: names the session without its secret
	CreatedAt  time.Time
	LastSeenAt time.Time
	ClientAddr string
	UserAgent  string
	Current    bool // the session of the request asking
}

// mayManageSessionsOf is the one rule for session pages: a user manages
// their own sessions, an admin anyone's.
func mayManageSessionsOf(actor Actor, id int64) error {
	if actor.Type == ActorUser && userID(actor) == id {
		return nil
	}
	return actor.require(ActManageUsers)
}

// ListSessions lists a user's live console sessions, most recent first;
// currentID (a Session.ID) marks the caller's own.
func (s *Service) ListSessions(ctx context.Context, actor Actor, id int64, currentID string) ([]SessionInfo, error) {
	if err := mayManageSessionsOf(actor, id); err != nil {
		return nil, err
	}
	ss, err := s.store.SessionsOfUser(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", id, err)
	}
	now := s.now()
	out := make([]SessionInfo, 0, len(ss))
	for _, x := range ss {
		if x.Expired(now) {
			continue
		}
		out = append(out, SessionInfo{Handle: SessionHandle(x.ID), CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt,
			ClientAddr: x.ClientAddr, UserAgent: x.UserAgent, Current: currentID != "" && x.ID == currentID})
	}
	return out, nil
}

// EndSession ends one console session of a user, named by its handle, and
// records session.ended.
func (s *Service) EndSession(ctx context.Context, actor Actor, id int64, handle string) error {
	if err := mayManageSessionsOf(actor, id); err != nil {
		return err
	}
	err := s.store.WithTx(ctx, func(tx Tx) error {
		ss, err := tx.SessionsOfUser(ctx, id)
		if err != nil {
			return err
		}
		for _, x := range ss {
			if SessionHandle(x.ID) != handle {
				continue
			}
			if err := tx.DeleteSession(ctx, x.ID); err != nil {
				return err
			}
			return s.appendAudit(ctx, tx, actor, "session.ended", "session", handle,
				map[string]any{"user_id": id, "client_addr": x.ClientAddr})
		}
		return Errorf(ENOTFOUND, "there is no such session (it may have ended already)")
	})
	if err != nil {
		return fmt.Errorf("end session of user %d: %w", id, err)
	}
	return nil
}

// userAgentMax bounds the User-Agent a session keeps.
const userAgentMax = 256

func truncateUserAgent(ua string) string {
	if len(ua) <= userAgentMax {
		return ua
	}
	cut := userAgentMax
	for cut > 0 && !utf8RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}
