package app

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// LinkPurpose says what a password link is for.
type LinkPurpose string

// Password link purposes.
const (
	// LinkInvite lets a new user, who has no password yet, set one.
	LinkInvite LinkPurpose = "invite"
	// LinkReset lets a user whose admin asked for it set a new password.
	LinkReset LinkPurpose = "reset"
)

// Password link lifetimes.
const (
	InvitationTTL = 72 * time.Hour
	ResetLinkTTL  = 24 * time.Hour
	// LinkRevealTTL is how long the console keeps a new link sealed for
	// the admin who made it to see once.
	LinkRevealTTL = 10 * time.Minute
)

// PasswordLink is a one-time link that sets a user's password. The holder
// has the random token; the store keeps its SHA-256 (ID).
type PasswordLink struct {
	ID        string // hex SHA-256 of the token
	UserID    int64
	Purpose   LinkPurpose
	CreatedBy string // actor id of the admin who made it
	// Reveal is the token sealed for the creating admin's one-time console
	// reveal; empty once shown (or never kept, for API callers).
	Reveal    []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Path is the console path where the link's token is used.
func (p LinkPurpose) Path(token string) string {
	if p == LinkReset {
		return "/reset/" + token
	}
	return "/invite/" + token
}

// ttl is the link's lifetime.
func (p LinkPurpose) ttl() time.Duration {
	if p == LinkReset {
		return ResetLinkTTL
	}
	return InvitationTTL
}

func linkID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// linkRevealAD binds a sealed reveal to its link row.
func linkRevealAD(id string) string { return "password_link:" + id }

// SessionHandle is the public name of a console session on pages and in
// URLs: derived from the session's id (itself a hash of the cookie token),
// so it can name the session without being able to resume it.
func SessionHandle(sessionID string) string {
	sum := sha256.Sum256([]byte("session-handle:" + sessionID))
	return hex.EncodeToString(sum[:8])
}
