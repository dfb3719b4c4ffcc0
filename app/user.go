package app

import (
	"net/mail"
	"strings"
	"time"
)

// User is a person who can log in, or a service account (Kind).
type User struct {
	ID           int64
	Email        string // normalised: see NormalizeEmail
	PasswordHash []byte
	Role         Role
	Disabled     bool
	// SessionVersion bumps on disable, role change and password change; tokens
	// and sessions carry the version they were issued under and die when it moves.
	SessionVersion int64
	// Kind is KindHuman for people and KindService for service accounts
	// (no password, never log in; their Email holds the account's name).
	Kind      UserKind
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NormalizeEmail trims, lower-cases and validates an address. Only a bare
// address is accepted ("Name <a@b>" is refused) so that one mailbox has one form.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", Errorf(EINVALID, "email is required")
	}
	if len(s) > 254 {
		return "", Errorf(EINVALID, "email is longer than 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", Errorf(EINVALID, "email %q is not a valid address", s)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !strings.Contains(s[at+1:], ".") && s[at+1:] != "localhost" {
		return "", Errorf(EINVALID, "email %q is not a valid address", s)
	}
	return s, nil
}
