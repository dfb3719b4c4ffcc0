package store

import (
	"context"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

const relayColumns = "work_id, agent_id, server, work, state, result, error, created_at, updated_at"

func scanRelayed(r rowScanner) (*app.RelayedWork, error) {
	var w app.RelayedWork
	var work, result, state string
	var created, updated int64
	if err := r.Scan(&w.WorkID, &w.AgentID, &w.Server, &work, &state, &result, &w.Error, &created, &updated); err != nil {
		return nil, err
	}
	w.Work, w.Result, w.State = rawJSON(work), rawJSON(result), app.RelayState(state)
	w.CreatedAt, w.UpdatedAt = fromMS(created), fromMS(updated)
	return &w, nil
}

func (q queries) RelayedWorkByID(ctx context.Context, workID string) (*app.RelayedWork, error) {
	w, err := scanRelayed(q.queryRow(ctx, "SELECT "+relayColumns+" FROM agent_relay WHERE work_id = ?", workID))
	return w, mapErr("relayed work by id", "relayed work not found", err)
}

func (q queries) RelayedWorkFor(ctx context.Context, server string) ([]app.RelayedWork, error) {
	rows, err := q.query(ctx, "SELECT "+relayColumns+" FROM agent_relay WHERE server = ? AND state <> ? ORDER BY created_at, work_id",
		server, string(app.RelayDone))
	if err != nil {
		return nil, mapErr("relayed work for server", "", err)
	}
	defer rows.Close()
	var out []app.RelayedWork
	for rows.Next() {
		w, err := scanRelayed(rows)
		if err != nil {
			return nil, mapErr("relayed work for server", "", err)
		}
		out = append(out, *w)
	}
	return out, mapErr("relayed work for server", "", rows.Err())
}

func (t *tx) SetAgentServer(ctx context.Context, id, server string) error {
	_, err := t.exec(ctx, "UPDATE agents SET server = ? WHERE id = ?", server, id)
	return mapErr("set agent server", "", err)
}

func (t *tx) CreateRelayedWork(ctx context.Context, w *app.RelayedWork) error {
	_, err := t.exec(ctx, "INSERT INTO agent_relay ("+relayColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		w.WorkID, w.AgentID, w.Server, string(w.Work), string(w.State), string(w.Result), w.Error,
		toMS(w.CreatedAt), toMS(w.UpdatedAt))
	return mapErr("create relayed work", "", err)
}

func (t *tx) MoveRelayedWork(ctx context.Context, workID string, from []app.RelayState, to app.RelayState, at time.Time) (bool, error) {
	args := []any{string(to), toMS(at), workID}
	for _, s := range from {
		args = append(args, string(s))
	}
	res, err := t.exec(ctx, "UPDATE agent_relay SET state = ?, updated_at = ? WHERE work_id = ? AND state IN (?"+
		strings.Repeat(", ?", len(from)-1)+")", args...)
	return affectedOne(res, err, "move relayed work")
}

func (t *tx) FinishRelayedWork(ctx context.Context, workID string, result []byte, reason string, at time.Time) (bool, error) {
	res, err := t.exec(ctx, "UPDATE agent_relay SET state = ?, result = ?, error = ?, updated_at = ? WHERE work_id = ? AND state IN (?, ?)",
		string(app.RelayDone), string(result), reason, toMS(at), workID, string(app.RelayQueued), string(app.RelayTaken))
	return affectedOne(res, err, "finish relayed work")
}

func (t *tx) DeleteRelayedWork(ctx context.Context, workID string) error {
	_, err := t.exec(ctx, "DELETE FROM agent_relay WHERE work_id = ?", workID)
	return mapErr("delete relayed work", "", err)
}

func (t *tx) DeleteStaleRelayedWork(ctx context.Context, before time.Time) (int64, error) {
	res, err := t.exec(ctx, "DELETE FROM agent_relay WHERE updated_at < ?", toMS(before))
	if err != nil {
		return 0, mapErr("delete stale relayed work", "", err)
	}
	n, err := res.RowsAffected()
	return n, mapErr("delete stale relayed work", "", err)
}
