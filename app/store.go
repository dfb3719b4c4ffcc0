package app

import (
	"context"
	"time"
)

// Store is the persistence seam: both drivers (SQLite, PostgreSQL) implement
// it. Reads may run outside a transaction; every state change runs inside
// WithTx together with the audit event that records it.
type Store interface {
	Queries
	// WithTx runs fn in one transaction; an error from fn rolls it back.
	WithTx(ctx context.Context, fn func(tx Tx) error) error
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// SchemaVersion reports the applied and the latest known migration.
	SchemaVersion(ctx context.Context) (applied, latest int, err error)
	Close() error
}

// Queries are the reads, available on the store and inside a transaction.
// A missing row is an *Error with code ENOTFOUND.
type Queries interface {
	UserByID(ctx context.Context, id int64) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)
	CountActiveAdmins(ctx context.Context) (int, error)

	SessionByID(ctx context.Context, id string) (*Session, error)

	// ListAudit returns records matching f, newest (highest id) first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	AuditByID(ctx context.Context, id int64) (*AuditEvent, error)
	// WalkAudit calls fn for records with at in [from, to) (zero = unbounded)
	// in ascending id order, streaming; fn's error stops the walk.
	WalkAudit(ctx context.Context, from, to time.Time, fn func(*AuditEvent) error) error

	// Setting returns a stored value by key (ENOTFOUND when absent).
	Setting(ctx context.Context, key string) ([]byte, error)
}

// Tx is a store transaction: reads plus writes.
type Tx interface {
	Queries
	// CreateUser inserts u and sets u.ID; a taken email is ECONFLICT.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser writes email, password hash, role, disabled, session
	// version and updated_at of u.ID.
	UpdateUser(ctx context.Context, u *User) error

	CreateSession(ctx context.Context, s *Session) error
	// TouchSession sets last_seen_at and data.
	TouchSession(ctx context.Context, s *Session) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of a user.
	DeleteUserSessions(ctx context.Context, userID int64) error
	// DeleteExpiredSessions removes sessions past their limits at now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	// AppendAudit assigns e.ID (previous id + 1), e.PrevHash and e.Hash,
	// serialising appends so the chain has no forks, and inserts the record.
	AppendAudit(ctx context.Context, e *AuditEvent) error

	PutSetting(ctx context.Context, key string, value []byte) error
	// CreateSetting stores key only when it is absent and reports whether it
	// did; two servers racing to create a key then agree on one value.
	CreateSetting(ctx context.Context, key string, value []byte) (created bool, err error)
}
