package store

import (
	"context"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
)

const passwordLinkColumns = "id, user_id, purpose, created_by, reveal, created_at, expires_at"

func scanPasswordLink(r rowScanner) (*app.PasswordLink, error) {
	var l app.PasswordLink
	var purpose string
	var created, expires int64
	if err := r.Scan(&l.ID, &l.UserID, &purpose, &l.CreatedBy, &l.Reveal, &created, &expires); err != nil {
		return nil, err
	}
	l.Purpose = app.LinkPurpose(purpose)
	l.CreatedAt, l.ExpiresAt = fromMS(created), fromMS(expires)
	return &l, nil
}

func (q queries) PasswordLinkByID(ctx context.Context, id string) (*app.PasswordLink, error) {
	l, err := scanPasswordLink(q.queryRow(ctx, "SELECT "+passwordLinkColumns+" FROM password_links WHERE id = ?", id))
	return l, mapErr("password link by id", "this link is not valid (it may have been used or replaced)", err)
}

func (q queries) PasswordLinksOfUser(ctx context.Context, userID int64) ([]app.PasswordLink, error) {
	rows, err := q.query(ctx, "SELECT "+passwordLinkColumns+" FROM password_links WHERE user_id = ? ORDER BY created_at DESC, id", userID)
	if err != nil {
		return nil, mapErr("password links of user", "", err)
	}
	defer rows.Close()
	var out []app.PasswordLink
	for rows.Next() {
		l, err := scanPasswordLink(rows)
		if err != nil {
			return nil, mapErr("password links of user", "", err)
		}
		out = append(out, *l)
	}
	return out, mapErr("password links of user", "", rows.Err())
}

// CreatePasswordLink inserts l; an unknown user is ENOTFOUND.
func (t *tx) CreatePasswordLink(ctx context.Context, l *app.PasswordLink) error {
	l.CreatedAt, l.ExpiresAt = fromMS(toMS(l.CreatedAt)), fromMS(toMS(l.ExpiresAt))
	_, err := t.exec(ctx, "INSERT INTO password_links ("+passwordLinkColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		l.ID, l.UserID, string(l.Purpose), l.CreatedBy, nonNil(l.Reveal), toMS(l.CreatedAt), toMS(l.ExpiresAt))
	return mapErr("create password link", "", err)
}

func (t *tx) DeletePasswordLinks(ctx context.Context, userID int64) error {
	_, err := t.exec(ctx, "DELETE FROM password_links WHERE user_id = ?", userID)
	return mapErr("delete password links", "", err)
}

func (t *tx) ClearPasswordLinkReveal(ctx context.Context, id string) error {
	res, err := t.exec(ctx, "UPDATE password_links SET reveal = ? WHERE id = ?", []byte{}, id)
	if err != nil {
		return mapErr("clear password link reveal", "", err)
	}
	return mustAffect(res, "clear password link reveal", "password link not found")
}

func (t *tx) DeleteExpiredPasswordLinks(ctx context.Context, now time.Time) (int64, error) {
	res, err := t.exec(ctx, "DELETE FROM password_links WHERE expires_at <= ?", toMS(now))
	if err != nil {
		return 0, mapErr("delete expired password links", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired password links: %w", err)
	}
	return n, nil
}

// ConsumePasswordLink deletes the link and returns the deleted row. Two
// transactions consuming one link cannot both get it: on PostgreSQL the
// second DELETE waits for the first and then matches nothing; SQLite has
// one writer.
func (t *tx) ConsumePasswordLink(ctx context.Context, id string) (*app.PasswordLink, error) {
	l, err := scanPasswordLink(t.queryRow(ctx, "DELETE FROM password_links WHERE id = ? RETURNING "+passwordLinkColumns, id))
	return l, mapErr("consume password link", "password link not found", err)
}
