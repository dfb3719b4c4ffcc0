package store

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"time"

	"github.com/nexplane/nexplane/app"
)

const apiTokenColumns = `id, user_id, name, role, token_hash, created_at, expires_at, last_used_at,
last_used_ip, last_used_user_agent, revoked_at, created_by`

func scanAPIToken(r rowScanner) (*app.APIToken, error) {
	var t app.APIToken
	var created, expires, used, revoked int64
	if err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Role, &t.Hash, &created, &expires, &used,
		&t.LastUsedIP, &t.LastUsedUserAgent, &revoked, &t.CreatedBy); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt = fromMS(created), fromMS(expires)
	t.LastUsedAt, t.RevokedAt = fromOptMS(used), fromOptMS(revoked)
	return &t, nil
}

// apiTokenAuthQuery reads a token and its owner in one round trip.
var apiTokenAuthQuery = "SELECT " + prefixed("t.", apiTokenColumns) + ", " + prefixed("u.", userColumns) +
	" FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?"

// prefixed qualifies each column of a column list with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

func (q queries) APITokenByHash(ctx context.Context, hash string) (*app.APIToken, *app.User, error) {
	return scanAPITokenAuth(q.queryRow(ctx, apiTokenAuthQuery, hash))
}

// APITokenByHash on the DB (outside transactions) runs on every API
// request with a token, so its statement is prepared once: parsing the
// join is about half of the lookup's cost on SQLite.
func (db *DB) APITokenByHash(ctx context.Context, hash string) (*app.APIToken, *app.User, error) {
	stmt, err := db.tokenStmt.get(ctx, db.reader, db.dialect.rebind(apiTokenAuthQuery))
	if err != nil {
		return db.queries.APITokenByHash(ctx, hash)
	}
	return scanAPITokenAuth(stmt.QueryRowContext(ctx, hash))
}

// preparedStmt is a statement prepared on first use and kept until Close.
type preparedStmt struct {
	mu   sync.Mutex
	stmt *sql.Stmt
}

func (p *preparedStmt) get(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		s, err := pool.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		p.stmt = s
	}
	return p.stmt, nil
}

func (p *preparedStmt) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stmt == nil {
		return nil
	}
	err := p.stmt.Close()
	p.stmt = nil
	return err
}

func scanAPITokenAuth(row *sql.Row) (*app.APIToken, *app.User, error) {
	var t app.APIToken
	var u app.User
	var created, expires, used, revoked, uCreated, uUpdated int64
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.Role, &t.Hash, &created, &expires, &used,
		&t.LastUsedIP, &t.LastUsedUserAgent, &revoked, &t.CreatedBy,
		&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, &u.SessionVersion, &u.Kind, &uCreated, &uUpdated)
	if err != nil {
		return nil, nil, mapErr("api token by hash", "token not found", err)
	}
	t.CreatedAt, t.ExpiresAt = fromMS(created), fromMS(expires)
	t.LastUsedAt, t.RevokedAt = fromOptMS(used), fromOptMS(revoked)
	u.CreatedAt, u.UpdatedAt = fromMS(uCreated), fromMS(uUpdated)
	return &t, &u, nil
}

func (q queries) APITokenByID(ctx context.Context, id int64) (*app.APIToken, error) {
	t, err := scanAPIToken(q.queryRow(ctx, "SELECT "+apiTokenColumns+" FROM api_tokens WHERE id = ?", id))
	return t, mapErr("api token by id", "token not found", err)
}

func (q queries) ListAPITokens(ctx context.Context, userID int64) ([]app.APIToken, error) {
	rows, err := q.query(ctx, "SELECT "+apiTokenColumns+" FROM api_tokens WHERE user_id = ? ORDER BY id DESC", userID)
	if err != nil {
		return nil, mapErr("list api tokens", "", err)
	}
	defer rows.Close()
	var ts []app.APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, mapErr("list api tokens", "", err)
		}
		ts = append(ts, *t)
	}
	return ts, mapErr("list api tokens", "", rows.Err())
}

// CreateAPIToken inserts t and sets t.ID; an unknown user is ENOTFOUND.
func (t *tx) CreateAPIToken(ctx context.Context, k *app.APIToken) error {
	k.CreatedAt, k.ExpiresAt = fromMS(toMS(k.CreatedAt)), fromMS(toMS(k.ExpiresAt))
	err := t.queryRow(ctx, `INSERT INTO api_tokens (user_id, name, role, token_hash, created_at, expires_at, last_used_at,
last_used_ip, last_used_user_agent, revoked_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		k.UserID, k.Name, string(k.Role), k.Hash, toMS(k.CreatedAt), toMS(k.ExpiresAt), toOptMS(k.LastUsedAt),
		k.LastUsedIP, k.LastUsedUserAgent, toOptMS(k.RevokedAt), k.CreatedBy).Scan(&k.ID)
	return mapErr("create api token", "", err)
}

func (t *tx) RevokeAPIToken(ctx context.Context, id int64, at time.Time) (bool, error) {
	res, err := t.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, toMS(at), id)
	if err != nil {
		return false, mapErr("revoke api token", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, mapErr("revoke api token", "", err)
	}
	if n == 1 {
		return true, nil
	}
	if _, err := t.APITokenByID(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}

func (t *tx) RevokeUserTokens(ctx context.Context, userID int64, at time.Time) (int64, error) {
	res, err := t.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0`, toMS(at), userID)
	if err != nil {
		return 0, mapErr("revoke user tokens", "", err)
	}
	n, err := res.RowsAffected()
	return n, mapErr("revoke user tokens", "", err)
}

func (t *tx) TouchAPIToken(ctx context.Context, id int64, at time.Time, ip, userAgent string, notAfter time.Time) (bool, error) {
	res, err := t.exec(ctx, `UPDATE api_tokens SET last_used_at = ?, last_used_ip = ?, last_used_user_agent = ?
WHERE id = ? AND last_used_at < ?`, toMS(at), ip, userAgent, id, toMS(notAfter))
	if err != nil {
		return false, mapErr("touch api token", "", err)
	}
	n, err := res.RowsAffected()
	return n == 1, mapErr("touch api token", "", err)
}
