package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
)

const mfaFactorColumns = "user_id, kind, sealed, last_step, confirmed_at, created_at"

func scanMFAFactor(r rowScanner) (app.MFAFactor, error) {
	var f app.MFAFactor
	var confirmed sql.NullInt64
	var created int64
	if err := r.Scan(&f.UserID, &f.Kind, &f.Sealed, &f.LastStep, &confirmed, &created); err != nil {
		return f, err
	}
	if confirmed.Valid {
		f.ConfirmedAt = fromMS(confirmed.Int64)
	}
	f.CreatedAt = fromMS(created)
	return f, nil
}

func (q queries) listMFAFactors(ctx context.Context, op, where string, args ...any) ([]app.MFAFactor, error) {
	rows, err := q.query(ctx, "SELECT "+mfaFactorColumns+" FROM mfa_factors "+where+" ORDER BY user_id, kind", args...)
	if err != nil {
		return nil, mapErr(op, "", err)
	}
	defer rows.Close()
	var out []app.MFAFactor
	for rows.Next() {
		f, err := scanMFAFactor(rows)
		if err != nil {
			return nil, mapErr(op, "", err)
		}
		out = append(out, f)
	}
	return out, mapErr(op, "", rows.Err())
}

func (q queries) MFAFactors(ctx context.Context, userID int64) ([]app.MFAFactor, error) {
	return q.listMFAFactors(ctx, "mfa factors", "WHERE user_id = ?", userID)
}

func (q queries) AllMFAFactors(ctx context.Context) ([]app.MFAFactor, error) {
	return q.listMFAFactors(ctx, "all mfa factors", "")
}

func (q queries) CountRecoveryCodes(ctx context.Context, userID int64) (int, error) {
	var n int
	err := q.queryRow(ctx, "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ? AND used_at IS NULL", userID).Scan(&n)
	return n, mapErr("count recovery codes", "", err)
}

func (q queries) MFAChallengeByID(ctx context.Context, id string) (*app.MFAChallenge, error) {
	var c app.MFAChallenge
	var via string
	var created, expires int64
	err := q.queryRow(ctx, `SELECT id, user_id, session_version, via, created_at, expires_at FROM mfa_challenges WHERE id = ?`, id).
		Scan(&c.ID, &c.UserID, &c.SessionVersion, &via, &created, &expires)
	if err != nil {
		return nil, mapErr("mfa challenge by id", "login step not found", err)
	}
	c.Console = via == "console"
	c.CreatedAt, c.ExpiresAt = fromMS(created), fromMS(expires)
	return &c, nil
}

// PutMFAFactor upserts (user, kind); ON CONFLICT … DO UPDATE is spelled the
// same in both dialects.
func (t *tx) PutMFAFactor(ctx context.Context, f *app.MFAFactor) error {
	var confirmed sql.NullInt64
	if f.Confirmed() {
		confirmed = sql.NullInt64{Int64: toMS(f.ConfirmedAt), Valid: true}
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = time.Now()
	}
	_, err := t.exec(ctx, `INSERT INTO mfa_factors (user_id, kind, sealed, last_step, confirmed_at, created_at) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, kind) DO UPDATE SET sealed = excluded.sealed, last_step = excluded.last_step,
	confirmed_at = excluded.confirmed_at, created_at = excluded.created_at`,
		f.UserID, string(f.Kind), nonNil(f.Sealed), f.LastStep, confirmed, toMS(f.CreatedAt))
	return mapErr("put mfa factor", "user not found", err)
}

func (t *tx) AdvanceMFAStep(ctx context.Context, userID int64, kind app.FactorKind, step int64) (bool, error) {
	res, err := t.exec(ctx, `UPDATE mfa_factors SET last_step = ? WHERE user_id = ? AND kind = ? AND last_step < ?`,
		step, userID, string(kind), step)
	return affectedOne(res, err, "advance mfa step")
}

func (t *tx) DeleteMFA(ctx context.Context, userID int64) error {
	if _, err := t.exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return mapErr("delete recovery codes", "", err)
	}
	_, err := t.exec(ctx, `DELETE FROM mfa_factors WHERE user_id = ?`, userID)
	return mapErr("delete mfa factors", "", err)
}

func (t *tx) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string, at time.Time) error {
	if _, err := t.exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return mapErr("replace recovery codes", "", err)
	}
	for _, h := range hashes {
		if _, err := t.exec(ctx, `INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)`,
			userID, h, toMS(at)); err != nil {
			return mapErr("replace recovery codes", "", err)
		}
	}
	return nil
}

func (t *tx) UseRecoveryCode(ctx context.Context, userID int64, hash string, at time.Time) (bool, error) {
	res, err := t.exec(ctx, `UPDATE mfa_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`,
		toMS(at), userID, hash)
	return affectedOne(res, err, "use recovery code")
}

func (t *tx) CreateMFAChallenge(ctx context.Context, c *app.MFAChallenge) error {
	via := "api"
	if c.Console {
		via = "console"
	}
	c.CreatedAt, c.ExpiresAt = fromMS(toMS(c.CreatedAt)), fromMS(toMS(c.ExpiresAt))
	_, err := t.exec(ctx, `INSERT INTO mfa_challenges (id, user_id, session_version, via, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.ID, c.UserID, c.SessionVersion, via, toMS(c.CreatedAt), toMS(c.ExpiresAt))
	return mapErr("create mfa challenge", "user not found", err)
}

func (t *tx) DeleteMFAChallenge(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `DELETE FROM mfa_challenges WHERE id = ?`, id)
	if err != nil {
		return mapErr("delete mfa challenge", "", err)
	}
	return mustAffect(res, "delete mfa challenge", "login step not found")
}

func (t *tx) DeleteExpiredMFAChallenges(ctx context.Context, now time.Time) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM mfa_challenges WHERE expires_at <= ?`, toMS(now))
	if err != nil {
		return 0, mapErr("delete expired mfa challenges", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired mfa challenges: %w", err)
	}
	return n, nil
}
