package store

import (
	"context"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
)

const revealPageColumns = "id, user_id, session_id, sealed, created_at, expires_at"

// CreateRevealPage inserts p; an unknown user or session is ENOTFOUND.
func (t *tx) CreateRevealPage(ctx context.Context, p *app.RevealPage) error {
	p.CreatedAt, p.ExpiresAt = fromMS(toMS(p.CreatedAt)), fromMS(toMS(p.ExpiresAt))
	_, err := t.exec(ctx, "INSERT INTO reveal_pages ("+revealPageColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		p.ID, p.UserID, p.SessionID, nonNil(p.Sealed), toMS(p.CreatedAt), toMS(p.ExpiresAt))
	return mapErr("create reveal page", "", err)
}

// RevealPageByID reads a page inside the transaction that will delete it.
func (t *tx) RevealPageByID(ctx context.Context, id string) (*app.RevealPage, error) {
	var p app.RevealPage
	var created, expires int64
	err := t.queryRow(ctx, "SELECT "+revealPageColumns+" FROM reveal_pages WHERE id = ?", id).
		Scan(&p.ID, &p.UserID, &p.SessionID, &p.Sealed, &created, &expires)
	if err != nil {
		return nil, mapErr("reveal page by id", "no such reveal page", err)
	}
	p.CreatedAt, p.ExpiresAt = fromMS(created), fromMS(expires)
	return &p, nil
}

// DeleteRevealPage erases a page; a missing one is ENOTFOUND.
func (t *tx) DeleteRevealPage(ctx context.Context, id string) error {
	res, err := t.exec(ctx, "DELETE FROM reveal_pages WHERE id = ?", id)
	if err != nil {
		return mapErr("delete reveal page", "", err)
	}
	return mustAffect(res, "delete reveal page", "no such reveal page")
}

// DeleteExpiredRevealPages erases the pages whose expiry is not after now.
func (t *tx) DeleteExpiredRevealPages(ctx context.Context, now time.Time) (int64, error) {
	res, err := t.exec(ctx, "DELETE FROM reveal_pages WHERE expires_at <= ?", toMS(now))
	if err != nil {
		return 0, mapErr("delete expired reveal pages", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired reveal pages: %w", err)
	}
	return n, nil
}
