package store

import (
	"context"
	"fmt"

	"github.com/nexplane/nexplane/app"
)

// Like audit records, checkpoints are never updated or deleted: the store
// has no method for it and triggers (0007) refuse both.

const checkpointColumns = "seq, hash, record_digest, at_ms, key_id, signature"

func (q queries) scanCheckpoints(ctx context.Context, op, query string, args ...any) ([]app.Checkpoint, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(op, "", err)
	}
	defer rows.Close()
	out := []app.Checkpoint{}
	for rows.Next() {
		var c app.Checkpoint
		var at int64
		if err := rows.Scan(&c.Seq, &c.Hash, &c.RecordDigest, &at, &c.KeyID, &c.Signature); err != nil {
			return nil, mapErr(op, "", err)
		}
		c.At = fromMS(at)
		out = append(out, c)
	}
	return out, mapErr(op, "", rows.Err())
}

func checkpointLimit(limit int) int {
	if limit <= 0 || limit > app.MaxCheckpointLimit {
		return app.MaxCheckpointLimit
	}
	return limit
}

func (q queries) ListCheckpoints(ctx context.Context, beforeSeq int64, limit int) ([]app.Checkpoint, error) {
	if beforeSeq > 0 {
		return q.scanCheckpoints(ctx, "list checkpoints",
			"SELECT "+checkpointColumns+" FROM audit_checkpoints WHERE seq < ? ORDER BY seq DESC LIMIT ?", beforeSeq, checkpointLimit(limit))
	}
	return q.scanCheckpoints(ctx, "list checkpoints",
		"SELECT "+checkpointColumns+" FROM audit_checkpoints ORDER BY seq DESC LIMIT ?", checkpointLimit(limit))
}

func (q queries) CheckpointsAfter(ctx context.Context, afterSeq int64, limit int) ([]app.Checkpoint, error) {
	return q.scanCheckpoints(ctx, "checkpoints after",
		"SELECT "+checkpointColumns+" FROM audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, checkpointLimit(limit))
}

// AppendCheckpoint inserts c unless its seq is taken (ON CONFLICT DO
// NOTHING, the same in both dialects): two servers checkpointing the same
// head store one checkpoint.
func (t *tx) AppendCheckpoint(ctx context.Context, c *app.Checkpoint) (bool, error) {
	res, err := t.exec(ctx, "INSERT INTO audit_checkpoints ("+checkpointColumns+") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING",
		c.Seq, c.Hash, c.RecordDigest, toMS(c.At), c.KeyID, nonNil(c.Signature))
	if err != nil {
		return false, mapErr("append checkpoint", "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("append checkpoint: %w", err)
	}
	return n == 1, nil
}
