package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxAuditIdentifier is the most of a submitted login identifier a
// failed-login audit record keeps: the longest valid email address.
const maxAuditIdentifier = 254

// truncatedMark ends an identifier that was cut to maxAuditIdentifier.
const truncatedMark = "…(truncated)"

// truncateIdentifier cuts s to maxAuditIdentifier bytes (on a rune
// boundary) and marks the cut, so that unauthenticated clients cannot write
// large audit records.
func truncateIdentifier(s string) string {
	if len(s) <= maxAuditIdentifier {
		return s
	}
	cut := maxAuditIdentifier
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// loginThrottleKey names the setting holding a user's last throttling reset.
// It lives in the database, not in the server's limiter, so that the CLI and
// every server sharing the database see it.
func loginThrottleKey(userID int64) string {
	return "login_throttle_reset:" + strconv.FormatInt(userID, 10)
}

// loginThrottleReset returns when the user's login throttling was last
// cleared (zero if never).
func (s *Service) loginThrottleReset(ctx context.Context, userID int64) (time.Time, error) {
	v, err := s.store.Setting(ctx, loginThrottleKey(userID))
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("read login throttle reset: %w", err)
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("read login throttle reset: %w", err)
	}
	return time.UnixMilli(ms), nil
}

// ClearLoginThrottle forgets the failed logins counted against the user
// with email (Admin or the CLI), so that they can log in at once from
// wherever they were locked out. Failures after the reset count again; limits
// on an address as a whole (guesses at many accounts) are not the user's and
// stay.
func (s *Service) ClearLoginThrottle(ctx context.Context, actor Actor, email string) (*User, error) {
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
		// Millisecond precision, rounded up, so that a failure in the same
		// millisecond as the reset is still forgotten.
		at := s.now().Add(time.Millisecond - 1).UnixMilli()
		if err := tx.PutSetting(ctx, loginThrottleKey(u.ID), []byte(strconv.FormatInt(at, 10))); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "user.login_throttle_cleared", "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"email": u.Email})
	})
	if err != nil {
		return nil, fmt.Errorf("clear login throttling for %s: %w", truncateIdentifier(email), err)
	}
	return u, nil
}
