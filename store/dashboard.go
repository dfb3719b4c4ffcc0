package store

import (
	"context"
	"time"

	"github.com/nexplane/nexplane/app"
)

// CountOpenFindings counts the open findings by severity.
func (q queries) CountOpenFindings(ctx context.Context) (map[app.Severity]int, error) {
	rows, err := q.query(ctx, "SELECT severity, COUNT(*) FROM findings WHERE resolved_at = 0 GROUP BY severity")
	if err != nil {
		return nil, mapErr("count open findings", "", err)
	}
	defer rows.Close()
	out := map[app.Severity]int{}
	for rows.Next() {
		var sev string
		var n int
		if err := rows.Scan(&sev, &n); err != nil {
			return nil, mapErr("count open findings", "", err)
		}
		out[app.Severity(sev)] = n
	}
	return out, mapErr("count open findings", "", rows.Err())
}

// MostSevereOpenFindings returns up to limit open findings, most severe
// first, then newest, each with its asset's name.
func (q queries) MostSevereOpenFindings(ctx context.Context, limit int) ([]app.AssetFinding, error) {
	rows, err := q.query(ctx, `SELECT f.id, f.asset_id, f.connector_id, f.rule, f.severity, f.message, f.remedy_type,
f.remedy_params, f.first_seen, f.last_seen, f.resolved_at, a.name
FROM findings f JOIN assets a ON a.id = f.asset_id WHERE f.resolved_at = 0
ORDER BY CASE f.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, f.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, mapErr("list most severe findings", "", err)
	}
	defer rows.Close()
	var out []app.AssetFinding
	for rows.Next() {
		var name string
		f, err := scanFinding(rowWith{rows, &name})
		if err != nil {
			return nil, mapErr("list most severe findings", "", err)
		}
		out = append(out, app.AssetFinding{Finding: *f, AssetName: name})
	}
	return out, mapErr("list most severe findings", "", rows.Err())
}

// rowWith scans a row whose leading columns a scan function reads and
// whose trailing ones go to extra.
type rowWith struct {
	r     rowScanner
	extra any
}

func (w rowWith) Scan(dest ...any) error { return w.r.Scan(append(dest, w.extra)...) }

// CountAgentsByStatus counts the agents as Agent.Status names them; an
// agent heard from at or after onlineSince is online.
func (q queries) CountAgentsByStatus(ctx context.Context, onlineSince time.Time) (map[string]int, error) {
	rows, err := q.query(ctx, `SELECT CASE WHEN revoked THEN 'revoked' WHEN last_seen > 0 AND last_seen >= ? THEN 'online'
ELSE 'offline' END, COUNT(*) FROM agents GROUP BY 1`, toMS(onlineSince))
	if err != nil {
		return nil, mapErr("count agents", "", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, mapErr("count agents", "", err)
		}
		out[st] = n
	}
	return out, mapErr("count agents", "", rows.Err())
}

// CountSetupProgress counts people, connectors and change requests in one
// query.
func (q queries) CountSetupProgress(ctx context.Context) (app.SetupProgress, error) {
	var p app.SetupProgress
	err := q.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM users WHERE kind = 'human'), (SELECT COUNT(*) FROM connectors),
(SELECT COUNT(*) FROM change_requests)`).Scan(&p.Users, &p.Connectors, &p.ChangeRequests)
	return p, mapErr("count setup progress", "", err)
}
