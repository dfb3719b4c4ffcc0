package app

import (
	"context"
	"time"
)

// PasswordHasher hashes and checks passwords (bcrypt cost 12 in app/auth).
// Both calls may wait for a slot in a bounded worker pool and honour ctx.
type PasswordHasher interface {
	Hash(ctx context.Context, password string) ([]byte, error)
	// Compare returns nil on a match, ErrPasswordMismatch on a mismatch, and
	// another error when it could not run (ctx cancelled, pool closed).
	Compare(ctx context.Context, hash []byte, password string) error
	// DummyHash is a valid hash of a random password, compared against when
	// the account does not exist so that both cases take the same time.
	DummyHash() []byte
}

// ErrPasswordMismatch is returned by PasswordHasher.Compare on a wrong password.
var ErrPasswordMismatch = Errorf(EUNAUTHORIZED, "password does not match")

// Clock returns the current time; tests pass a fixed or stepped one.
type Clock func() time.Time
