package store

import (
	"context"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
)

// AuditAfter returns up to limit records after afterID in id order: one
// primary-key range scan, what an outbound stream reads from its cursor.
func (q queries) AuditAfter(ctx context.Context, afterID int64, limit int) ([]app.AuditEvent, error) {
	rows, err := q.query(ctx, "SELECT "+auditColumns+" FROM audit_log WHERE id > ? ORDER BY id LIMIT ?", afterID, limit)
	if err != nil {
		return nil, mapErr("audit after", "", err)
	}
	defer rows.Close()
	var out []app.AuditEvent
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, mapErr("audit after", "", err)
		}
		out = append(out, *e)
	}
	return out, mapErr("audit after", "", rows.Err())
}

func (q queries) AuditHead(ctx context.Context) (int64, error) {
	var id int64
	err := q.queryRow(ctx, "SELECT COALESCE(MAX(id), 0) FROM audit_log").Scan(&id)
	return id, mapErr("audit head", "", err)
}

func (q queries) OutboxCursor(ctx context.Context, name string) (*app.OutboxCursor, error) {
	c := app.OutboxCursor{Name: name}
	var updated, until int64
	err := q.queryRow(ctx, "SELECT last_seq, last_error, updated_at, lease_owner, lease_until FROM outbox_cursors WHERE name = ?", name).
		Scan(&c.LastSeq, &c.LastError, &updated, &c.LeaseOwner, &until)
	if err != nil {
		return nil, mapErr("outbox cursor "+name, "outbox cursor not found", err)
	}
	c.UpdatedAt, c.LeaseUntil = fromMS(updated), fromMS(until)
	return &c, nil
}

// ClaimOutbox is one conditional UPDATE: two servers racing for an expired
// lease cannot both match it, since the winner's write changes the row the
// loser's WHERE re-reads (row lock on PostgreSQL, the single writer on SQLite).
func (t *tx) ClaimOutbox(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	if _, err := t.exec(ctx, `INSERT INTO outbox_cursors (name, updated_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		name, toMS(now)); err != nil {
		return false, mapErr("claim outbox "+name, "", err)
	}
	res, err := t.exec(ctx, `UPDATE outbox_cursors SET lease_owner = ?, lease_until = ?
WHERE name = ? AND (lease_owner = ? OR lease_until < ?)`, owner, toMS(until), name, owner, toMS(now))
	if err != nil {
		return false, mapErr("claim outbox "+name, "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim outbox %s: %w", name, err)
	}
	return n == 1, nil
}

func (t *tx) AdvanceOutbox(ctx context.Context, name string, seq int64, now time.Time) error {
	_, err := t.exec(ctx, `UPDATE outbox_cursors SET last_seq = CASE WHEN last_seq > ? THEN last_seq ELSE ? END,
last_error = '', updated_at = ? WHERE name = ?`, seq, seq, toMS(now), name)
	return mapErr("advance outbox "+name, "", err)
}

func (t *tx) SetOutboxError(ctx context.Context, name, msg string, now time.Time) error {
	_, err := t.exec(ctx, `UPDATE outbox_cursors SET last_error = ?, updated_at = ? WHERE name = ?`, msg, toMS(now), name)
	return mapErr("outbox error "+name, "", err)
}
