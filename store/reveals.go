package store

import (
	"context"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
)

const revealColumns = "id, change_request_id, operation_id, user_id, sealed, expires_at, created_at"

func scanReveal(r rowScanner) (*app.Reveal, error) {
	var rv app.Reveal
	var expires, created int64
	if err := r.Scan(&rv.ID, &rv.ChangeRequestID, &rv.OperationID, &rv.UserID, &rv.Sealed, &expires, &created); err != nil {
		return nil, err
	}
	rv.ExpiresAt, rv.CreatedAt = fromMS(expires), fromMS(created)
	return &rv, nil
}

// RevealByOperation returns the reveal of an operation whether or not it
// has expired: DeleteExpiredReveals erases those, and the caller compares
// ExpiresAt with its own clock.
func (q queries) RevealByOperation(ctx context.Context, operationID int64) (*app.Reveal, error) {
	rv, err := scanReveal(q.queryRow(ctx, "SELECT "+revealColumns+" FROM reveals WHERE operation_id = ?", operationID))
	return rv, mapErr("reveal by operation", "nothing to reveal", err)
}

// RevealsForChange lists the reveals of a change request, oldest first.
func (q queries) RevealsForChange(ctx context.Context, changeID int64) ([]app.Reveal, error) {
	return q.listReveals(ctx, "reveals for change", "SELECT "+revealColumns+" FROM reveals WHERE change_request_id = ? ORDER BY id", changeID)
}

// AllReveals lists every pending reveal (rekey).
func (q queries) AllReveals(ctx context.Context) ([]app.Reveal, error) {
	return q.listReveals(ctx, "all reveals", "SELECT "+revealColumns+" FROM reveals ORDER BY id")
}

func (q queries) listReveals(ctx context.Context, what, query string, args ...any) ([]app.Reveal, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(what, "", err)
	}
	defer rows.Close()
	var out []app.Reveal
	for rows.Next() {
		rv, err := scanReveal(rows)
		if err != nil {
			return nil, mapErr(what, "", err)
		}
		out = append(out, *rv)
	}
	return out, mapErr(what, "", rows.Err())
}

// UpdateRevealSealed replaces a reveal's ciphertext (rekey).
func (t *tx) UpdateRevealSealed(ctx context.Context, id int64, sealed []byte) error {
	res, err := t.exec(ctx, "UPDATE reveals SET sealed = ? WHERE id = ?", sealed, id)
	if ok, err := affectedOne(res, err, "update reveal"); err != nil {
		return err
	} else if !ok {
		return app.Errorf(app.ENOTFOUND, "nothing to reveal")
	}
	return nil
}

// CreateReveal inserts r and sets r.ID; a zero CreatedAt becomes now and a
// zero ExpiresAt CreatedAt + app.RevealTTL. A second reveal of one
// operation is ECONFLICT.
func (t *tx) CreateReveal(ctx context.Context, r *app.Reveal) error {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	if r.ExpiresAt.IsZero() {
		r.ExpiresAt = r.CreatedAt.Add(app.RevealTTL)
	}
	r.CreatedAt, r.ExpiresAt = fromMS(toMS(r.CreatedAt)), fromMS(toMS(r.ExpiresAt))
	err := t.queryRow(ctx, `INSERT INTO reveals (change_request_id, operation_id, user_id, sealed, expires_at, created_at)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		r.ChangeRequestID, r.OperationID, r.UserID, nonNil(r.Sealed), toMS(r.ExpiresAt), toMS(r.CreatedAt)).Scan(&r.ID)
	return mapErr("create reveal", "", err)
}

// DeleteReveal erases a reveal. A missing one is ENOTFOUND "nothing to
// reveal": when two requests race to show one secret, the loser's DELETE
// matches nothing, so a caller that deletes before showing shows it once.
func (t *tx) DeleteReveal(ctx context.Context, id int64) error {
	res, err := t.exec(ctx, "DELETE FROM reveals WHERE id = ?", id)
	if err != nil {
		return mapErr("delete reveal", "", err)
	}
	return mustAffect(res, "delete reveal", "nothing to reveal")
}

// DeleteExpiredReveals erases the reveals whose expiry is before now.
func (t *tx) DeleteExpiredReveals(ctx context.Context, now time.Time) (int64, error) {
	res, err := t.exec(ctx, "DELETE FROM reveals WHERE expires_at < ?", toMS(now))
	if err != nil {
		return 0, mapErr("delete expired reveals", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired reveals: %w", err)
	}
	return n, nil
}
