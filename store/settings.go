package store

import (
	"context"
	"fmt"
	"time"
)

func (q queries) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := q.queryRow(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if err != nil {
		return nil, mapErr("setting "+key, "setting not found", err)
	}
	return v, nil
}

// PutSetting inserts or overwrites key. ON CONFLICT … DO UPDATE is spelled
// the same in SQLite and PostgreSQL.
func (t *tx) PutSetting(ctx context.Context, key string, value []byte) error {
	_, err := t.exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, nonNil(value), toMS(time.Now()))
	return mapErr("put setting "+key, "", err)
}

// CreateSetting inserts key unless it exists (ON CONFLICT DO NOTHING, the
// same in both dialects); the row count says who won.
func (t *tx) CreateSetting(ctx context.Context, key string, value []byte) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		key, nonNil(value), toMS(time.Now()))
	if err != nil {
		return false, mapErr("create setting "+key, "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("create setting %s: %w", key, err)
	}
	return n == 1, nil
}
