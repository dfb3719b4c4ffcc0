package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
)

// agentColumns are every column of agents; listAgentColumns leave out the
// users inventory, which can be large and no list shows.
const (
	agentColumns = "id, hostname, labels, cert_serial, cert_not_after, prev_cert_serial, enrolled_at, last_seen, " +
		"revoked, revoked_at, facts, users, version, server"
	listAgentColumns = "id, hostname, labels, cert_serial, cert_not_after, prev_cert_serial, enrolled_at, last_seen, " +
		"revoked, revoked_at, facts, '', version, server"
)

func scanAgent(r rowScanner) (*app.Agent, error) {
	var a app.Agent
	var labels, facts, users string
	var notAfter, enrolled, lastSeen, revokedAt int64
	if err := r.Scan(&a.ID, &a.Hostname, &labels, &a.CertSerial, &notAfter, &a.PrevCertSerial, &enrolled, &lastSeen,
		&a.Revoked, &revokedAt, &facts, &users, &a.Version, &a.Server); err != nil {
		return nil, err
	}
	var err error
	if a.Labels, err = decodeLabels(labels); err != nil {
		return nil, fmt.Errorf("agent %s: %w", a.ID, err)
	}
	a.CertNotAfter, a.EnrolledAt = fromMS(notAfter), fromMS(enrolled)
	a.LastSeen, a.RevokedAt = fromOptMS(lastSeen), fromOptMS(revokedAt)
	a.Facts, a.Users = rawJSON(facts), rawJSON(users)
	return &a, nil
}

func encodeLabels(labels map[string]string) (string, error) {
	if labels == nil {
		labels = map[string]string{}
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return "", fmt.Errorf("encode labels: %w", err)
	}
	return string(b), nil
}

func decodeLabels(s string) (map[string]string, error) {
	labels := map[string]string{}
	if err := json.Unmarshal([]byte(s), &labels); err != nil {
		return nil, fmt.Errorf("decode labels: %w", err)
	}
	return labels, nil
}

func (q queries) AgentByID(ctx context.Context, id string) (*app.Agent, error) {
	a, err := scanAgent(q.queryRow(ctx, "SELECT "+agentColumns+" FROM agents WHERE id = ?", id))
	return a, mapErr("agent by id", "agent not found", err)
}

// ListAgents returns every agent by hostname, then id; Users stays nil.
func (q queries) ListAgents(ctx context.Context) ([]app.Agent, error) {
	rows, err := q.query(ctx, "SELECT "+listAgentColumns+" FROM agents ORDER BY hostname, id")
	if err != nil {
		return nil, mapErr("list agents", "", err)
	}
	defer rows.Close()
	var out []app.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, mapErr("list agents", "", err)
		}
		out = append(out, *a)
	}
	return out, mapErr("list agents", "", rows.Err())
}

// AgentRevocationsSince uses the revoked_at index; revoked_at is 0 for
// agents in good standing, so since must be after the epoch.
func (q queries) AgentRevocationsSince(ctx context.Context, since time.Time) ([]app.AgentRevocation, error) {
	from := toMS(since)
	if from < 1 {
		from = 1
	}
	rows, err := q.query(ctx, "SELECT id, revoked_at FROM agents WHERE revoked_at >= ? ORDER BY revoked_at, id", from)
	if err != nil {
		return nil, mapErr("agent revocations", "", err)
	}
	defer rows.Close()
	var out []app.AgentRevocation
	for rows.Next() {
		var r app.AgentRevocation
		var at int64
		if err := rows.Scan(&r.AgentID, &at); err != nil {
			return nil, mapErr("agent revocations", "", err)
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, mapErr("agent revocations", "", rows.Err())
}

const tokenColumns = "id, token_hash, labels, created_by, created_at, expires_at, used_at, used_by"

func scanToken(r rowScanner) (*app.EnrollmentToken, error) {
	var t app.EnrollmentToken
	var labels string
	var created, expires, used int64
	if err := r.Scan(&t.ID, &t.TokenHash, &labels, &t.CreatedBy, &created, &expires, &used, &t.UsedBy); err != nil {
		return nil, err
	}
	var err error
	if t.Labels, err = decodeLabels(labels); err != nil {
		return nil, fmt.Errorf("enrollment token %d: %w", t.ID, err)
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = fromMS(created), fromMS(expires), fromOptMS(used)
	return &t, nil
}

func (q queries) EnrollmentTokenByHash(ctx context.Context, hash string) (*app.EnrollmentToken, error) {
	t, err := scanToken(q.queryRow(ctx, "SELECT "+tokenColumns+" FROM enrollment_tokens WHERE token_hash = ?", hash))
	return t, mapErr("enrollment token by hash", "enrollment token not found", err)
}

func (t *tx) CreateEnrollmentToken(ctx context.Context, et *app.EnrollmentToken) error {
	labels, err := encodeLabels(et.Labels)
	if err != nil {
		return err
	}
	err = t.queryRow(ctx, `INSERT INTO enrollment_tokens (token_hash, labels, created_by, created_at, expires_at)
VALUES (?, ?, ?, ?, ?) RETURNING id`,
		et.TokenHash, labels, et.CreatedBy, toMS(et.CreatedAt), toMS(et.ExpiresAt)).Scan(&et.ID)
	return mapErr("create enrollment token", "", err)
}

// ConsumeEnrollmentToken is one conditional UPDATE … RETURNING (both
// dialects): the row lock it takes makes a racing second consumer see
// used_at set and match nothing.
func (t *tx) ConsumeEnrollmentToken(ctx context.Context, hash, agentID string, now time.Time) (*app.EnrollmentToken, error) {
	et, err := scanToken(t.queryRow(ctx, `UPDATE enrollment_tokens SET used_at = ?, used_by = ?
WHERE token_hash = ? AND used_at = 0 AND expires_at > ? RETURNING `+tokenColumns,
		toMS(now), agentID, hash, toMS(now)))
	return et, mapErr("consume enrollment token", "enrollment token is invalid, expired or already used", err)
}

func (t *tx) CreateAgent(ctx context.Context, a *app.Agent) error {
	labels, err := encodeLabels(a.Labels)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO agents (id, hostname, labels, cert_serial, cert_not_after, prev_cert_serial,
enrolled_at, last_seen, revoked, revoked_at, facts, users, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Hostname, labels, a.CertSerial, toMS(a.CertNotAfter), a.PrevCertSerial, toMS(a.EnrolledAt),
		toOptMS(a.LastSeen), a.Revoked, toOptMS(a.RevokedAt), string(a.Facts), string(a.Users), a.Version)
	return mapErr("create agent", "", err)
}

func (t *tx) RecordAgentHeartbeat(ctx context.Context, id string, at time.Time, facts, users []byte, version string) error {
	res, err := t.exec(ctx, `UPDATE agents SET last_seen = ?, facts = ?, users = ?, version = ?
WHERE id = ? AND revoked = ?`, toMS(at), string(facts), string(users), version, id, false)
	if err != nil {
		return mapErr("record agent heartbeat", "", err)
	}
	return mustAffect(res, "record agent heartbeat", "agent not found or revoked")
}

func (t *tx) RenewAgentCert(ctx context.Context, id, presented, newSerial string, notAfter time.Time) (bool, error) {
	if presented == "" {
		return false, nil // '' marks "no previous certificate", never a match
	}
	res, err := t.exec(ctx, `UPDATE agents SET cert_serial = ?, cert_not_after = ?, prev_cert_serial = ?
WHERE id = ? AND revoked = ? AND (cert_serial = ? OR prev_cert_serial = ?)`,
		newSerial, toMS(notAfter), presented, id, false, presented, presented)
	return affectedOne(res, err, "renew agent certificate")
}

func (t *tx) RetirePrevAgentCert(ctx context.Context, id, current string) error {
	_, err := t.exec(ctx, "UPDATE agents SET prev_cert_serial = '' WHERE id = ? AND cert_serial = ?", id, current)
	return mapErr("retire previous agent certificate", "", err)
}

func (t *tx) RevokeAgent(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := t.exec(ctx, "UPDATE agents SET revoked = ?, revoked_at = ?, prev_cert_serial = '' WHERE id = ? AND revoked = ?",
		true, toMS(at), id, false)
	ok, err := affectedOne(res, err, "revoke agent")
	if err != nil || ok {
		return ok, err
	}
	if _, err := t.AgentByID(ctx, id); err != nil {
		return false, err
	}
	return false, nil
}
