package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

const passkeyColumns = "id, user_id, credential_id, public_key, sign_count, aaguid, transports, attestation_type, flags, name, created_at, last_used_at"

func scanPasskey(r rowScanner) (app.Passkey, error) {
	var p app.Passkey
	var signCount, flags, created int64
	var transports string
	var lastUsed sql.NullInt64
	if err := r.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.PublicKey, &signCount, &p.AAGUID, &transports,
		&p.AttestationType, &flags, &p.Name, &created, &lastUsed); err != nil {
		return p, err
	}
	p.SignCount, p.Flags = uint32(signCount), uint8(flags)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	p.CreatedAt = fromMS(created)
	if lastUsed.Valid {
		p.LastUsedAt = fromMS(lastUsed.Int64)
	}
	return p, nil
}

func (q queries) PasskeysOf(ctx context.Context, userID int64) ([]app.Passkey, error) {
	rows, err := q.query(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE user_id = ? ORDER BY created_at, id", userID)
	if err != nil {
		return nil, mapErr("passkeys of user", "", err)
	}
	defer rows.Close()
	var out []app.Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, mapErr("passkeys of user", "", err)
		}
		out = append(out, p)
	}
	return out, mapErr("passkeys of user", "", rows.Err())
}

func (q queries) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*app.Passkey, error) {
	p, err := scanPasskey(q.queryRow(ctx, "SELECT "+passkeyColumns+" FROM passkeys WHERE credential_id = ?", nonNil(credentialID)))
	if err != nil {
		return nil, mapErr("passkey by credential id", "passkey not found", err)
	}
	return &p, nil
}

func (q queries) PasskeyCeremonyByID(ctx context.Context, id string) (*app.PasskeyCeremony, error) {
	var c app.PasskeyCeremony
	var kind string
	var userID sql.NullInt64
	var created, expires int64
	err := q.queryRow(ctx, `SELECT id, kind, user_id, binding, name, data, created_at, expires_at FROM passkey_ceremonies WHERE id = ?`, id).
		Scan(&c.ID, &kind, &userID, &c.Binding, &c.Name, &c.Data, &created, &expires)
	if err != nil {
		return nil, mapErr("passkey ceremony by id", "passkey ceremony not found", err)
	}
	c.Kind, c.UserID = app.CeremonyKind(kind), userID.Int64
	c.CreatedAt, c.ExpiresAt = fromMS(created), fromMS(expires)
	return &c, nil
}

func (t *tx) CreatePasskey(ctx context.Context, p *app.Passkey) error {
	var lastUsed sql.NullInt64
	if !p.LastUsedAt.IsZero() {
		lastUsed = sql.NullInt64{Int64: toMS(p.LastUsedAt), Valid: true}
	}
	p.CreatedAt = fromMS(toMS(p.CreatedAt))
	err := t.queryRow(ctx, `INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, aaguid, transports,
	attestation_type, flags, name, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.UserID, nonNil(p.CredentialID), nonNil(p.PublicKey), int64(p.SignCount), nonNil(p.AAGUID),
		strings.Join(p.Transports, ","), p.AttestationType, int64(p.Flags), p.Name, toMS(p.CreatedAt), lastUsed).Scan(&p.ID)
	return mapErr("create passkey", "user not found", err)
}

func (t *tx) UsePasskey(ctx context.Context, id int64, signCount uint32, at time.Time) (bool, error) {
	n := int64(signCount)
	res, err := t.exec(ctx, `UPDATE passkeys SET sign_count = ?, last_used_at = ?
WHERE id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`, n, toMS(at), id, n, n)
	return affectedOne(res, err, "use passkey")
}

func (t *tx) DeletePasskey(ctx context.Context, userID, id int64) error {
	res, err := t.exec(ctx, `DELETE FROM passkeys WHERE user_id = ? AND id = ?`, userID, id)
	if err != nil {
		return mapErr("delete passkey", "", err)
	}
	return mustAffect(res, "delete passkey", "passkey not found")
}

func (t *tx) DeletePasskeys(ctx context.Context, userID int64) error {
	_, err := t.exec(ctx, `DELETE FROM passkeys WHERE user_id = ?`, userID)
	return mapErr("delete passkeys", "", err)
}

func (t *tx) CreatePasskeyCeremony(ctx context.Context, c *app.PasskeyCeremony) error {
	var userID sql.NullInt64
	if c.UserID != 0 {
		userID = sql.NullInt64{Int64: c.UserID, Valid: true}
	}
	c.CreatedAt, c.ExpiresAt = fromMS(toMS(c.CreatedAt)), fromMS(toMS(c.ExpiresAt))
	_, err := t.exec(ctx, `INSERT INTO passkey_ceremonies (id, kind, user_id, binding, name, data, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, string(c.Kind), userID, c.Binding, c.Name, nonNil(c.Data), toMS(c.CreatedAt), toMS(c.ExpiresAt))
	return mapErr("create passkey ceremony", "user not found", err)
}

func (t *tx) DeletePasskeyCeremony(ctx context.Context, id string) error {
	res, err := t.exec(ctx, `DELETE FROM passkey_ceremonies WHERE id = ?`, id)
	if err != nil {
		return mapErr("delete passkey ceremony", "", err)
	}
	return mustAffect(res, "delete passkey ceremony", "passkey ceremony not found")
}

func (t *tx) DeleteExpiredPasskeyCeremonies(ctx context.Context, now time.Time) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM passkey_ceremonies WHERE expires_at <= ?`, toMS(now))
	if err != nil {
		return 0, mapErr("delete expired passkey ceremonies", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired passkey ceremonies: %w", err)
	}
	return n, nil
}
