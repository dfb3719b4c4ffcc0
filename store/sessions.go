package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
)

func (q queries) SessionByID(ctx context.Context, id string) (*app.Session, error) {
	var s app.Session
	var created, seen int64
	err := q.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id).
		Scan(&s.ID, &s.UserID, &s.SessionVersion, &s.Data, &created, &seen, &s.ClientAddr, &s.UserAgent)
	if err != nil {
		return nil, mapErr("session by id", "session not found", err)
	}
	s.CreatedAt, s.LastSeenAt = fromMS(created), fromMS(seen)
	return &s, nil
}

const sessionColumns = "id, user_id, session_version, data, created_at, last_seen_at, client_addr, user_agent"

func (q queries) SessionsOfUser(ctx context.Context, userID int64) ([]app.Session, error) {
	rows, err := q.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = ? ORDER BY last_seen_at DESC, id`, userID)
	if err != nil {
		return nil, mapErr("sessions of user", "", err)
	}
	defer rows.Close()
	var out []app.Session
	for rows.Next() {
		var s app.Session
		var created, seen int64
		if err := rows.Scan(&s.ID, &s.UserID, &s.SessionVersion, &s.Data, &created, &seen, &s.ClientAddr, &s.UserAgent); err != nil {
			return nil, mapErr("sessions of user", "", err)
		}
		s.CreatedAt, s.LastSeenAt = fromMS(created), fromMS(seen)
		out = append(out, s)
	}
	return out, mapErr("sessions of user", "", rows.Err())
}

// CreateSession inserts s; an unknown user is ENOTFOUND.
func (t *tx) CreateSession(ctx context.Context, s *app.Session) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now()
	}
	if s.LastSeenAt.IsZero() {
		s.LastSeenAt = s.CreatedAt
	}
	s.CreatedAt, s.LastSeenAt = fromMS(toMS(s.CreatedAt)), fromMS(toMS(s.LastSeenAt))
	_, err := t.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, s.SessionVersion, nonNil(s.Data), toMS(s.CreatedAt), toMS(s.LastSeenAt), s.ClientAddr, s.UserAgent)
	return mapErr("create session", "", err)
}

// TouchSession sets last_seen_at and data; a missing session is ENOTFOUND,
// so the web layer learns that the session ended meanwhile.
func (t *tx) TouchSession(ctx context.Context, s *app.Session) error {
	s.LastSeenAt = fromMS(toMS(s.LastSeenAt))
	res, err := t.exec(ctx, `UPDATE sessions SET last_seen_at = ?, data = ? WHERE id = ?`,
		toMS(s.LastSeenAt), nonNil(s.Data), s.ID)
	if err != nil {
		return mapErr("touch session", "", err)
	}
	return mustAffect(res, "touch session", "session not found")
}

// DeleteSession is idempotent: logging out twice is not an error.
func (t *tx) DeleteSession(ctx context.Context, id string) error {
	_, err := t.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return mapErr("delete session", "", err)
}

func (t *tx) DeleteUserSessions(ctx context.Context, userID int64) error {
	_, err := t.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	return mapErr("delete user sessions", "", err)
}

// DeleteExpiredSessions applies the same limits as app.Session.Expired:
// idle longer than SessionIdleTimeout or older than SessionAbsoluteTimeout.
func (t *tx) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := t.exec(ctx, `DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?`,
		toMS(now.Add(-app.SessionIdleTimeout)), toMS(now.Add(-app.SessionAbsoluteTimeout)))
	if err != nil {
		return 0, mapErr("delete expired sessions", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// mustAffect turns "no row matched" into ENOTFOUND for UPDATEs by key.
func mustAffect(res sql.Result, op, notFound string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n == 0 {
		return app.Errorf(app.ENOTFOUND, "%s", notFound)
	}
	return nil
}

// nonNil stores an absent value as an empty blob: the columns are NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
