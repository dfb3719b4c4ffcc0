package store

import (
	"context"
	"time"

	"github.com/nexplane/nexplane/app"
)

const userColumns = "id, email, password_hash, role, disabled, session_version, kind, created_at, updated_at"

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(r rowScanner) (*app.User, error) {
	var u app.User
	var created, updated int64
	if err := r.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, &u.SessionVersion, &u.Kind, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMS(created), fromMS(updated)
	return &u, nil
}

func (q queries) UserByID(ctx context.Context, id int64) (*app.User, error) {
	u, err := scanUser(q.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	return u, mapErr("user by id", "user not found", err)
}

// UserByEmail expects an address already normalised by app.NormalizeEmail.
func (q queries) UserByEmail(ctx context.Context, email string) (*app.User, error) {
	u, err := scanUser(q.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE email = ?", email))
	return u, mapErr("user by email", "user not found", err)
}

func (q queries) ListUsers(ctx context.Context) ([]app.User, error) {
	rows, err := q.query(ctx, "SELECT "+userColumns+" FROM users ORDER BY email")
	if err != nil {
		return nil, mapErr("list users", "", err)
	}
	defer rows.Close()
	var us []app.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, mapErr("list users", "", err)
		}
		us = append(us, *u)
	}
	return us, mapErr("list users", "", rows.Err())
}

func (q queries) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, "SELECT count(*) FROM users").Scan(&n)
	return n, mapErr("count users", "", err)
}

// LockActiveAdmins counts enabled admins under their row locks. At READ
// COMMITTED a plain count lets two transactions each see two admins and each
// demote one; with FOR UPDATE the second waits, re-checks the rows the first
// changed and no longer counts them. SQLite's single IMMEDIATE writer
// serialises the transactions already.
func (t *tx) LockActiveAdmins(ctx context.Context) (int, error) {
	query := "SELECT id FROM users WHERE role = ? AND NOT disabled ORDER BY id"
	if t.dialect == postgresDialect {
		// Locking in id order keeps two lockers from deadlocking.
		query += " FOR UPDATE"
	}
	rows, err := t.query(ctx, query, string(app.RoleAdmin))
	if err != nil {
		return 0, mapErr("lock active admins", "", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, mapErr("lock active admins", "", rows.Err())
}

// CreateUser inserts u and sets u.ID. Zero CreatedAt/UpdatedAt become now,
// a zero SessionVersion becomes 1, the schema's starting version, and an
// empty Kind becomes human.
func (t *tx) CreateUser(ctx context.Context, u *app.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	if u.SessionVersion == 0 {
		u.SessionVersion = 1
	}
	if u.Kind == "" {
		u.Kind = app.KindHuman
	}
	u.CreatedAt, u.UpdatedAt = fromMS(toMS(u.CreatedAt)), fromMS(toMS(u.UpdatedAt))
	args := []any{u.Email, nonNil(u.PasswordHash), string(u.Role), u.Disabled, u.SessionVersion, toMS(u.CreatedAt), toMS(u.UpdatedAt)}
	query := `INSERT INTO users (email, password_hash, role, disabled, session_version, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`
	if u.Kind != app.KindHuman {
		// Only service accounts name their kind; people take the default.
		args = append(args, string(u.Kind))
		query = `INSERT INTO users (email, password_hash, role, disabled, session_version, created_at, updated_at, kind)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	}
	err := t.queryRow(ctx, query, args...).Scan(&u.ID)
	return mapErr("create user", "", err)
}

// UpdateUser writes every mutable column of u.ID; a zero UpdatedAt becomes now.
func (t *tx) UpdateUser(ctx context.Context, u *app.User) error {
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = time.Now()
	}
	u.UpdatedAt = fromMS(toMS(u.UpdatedAt))
	res, err := t.exec(ctx, `UPDATE users SET email = ?, password_hash = ?, role = ?, disabled = ?, session_version = ?, updated_at = ?
WHERE id = ?`,
		u.Email, nonNil(u.PasswordHash), string(u.Role), u.Disabled, u.SessionVersion, toMS(u.UpdatedAt), u.ID)
	if err != nil {
		return mapErr("update user", "", err)
	}
	return mustAffect(res, "update user", "user not found")
}
