package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// The store has no method that updates or deletes audit records, and the
// database refuses both (triggers in 0001_init.sql).

const auditColumns = "id, at_ms, actor_type, actor_id, actor_email, event, resource_type, resource_id, payload, prev_hash, hash"

func scanAudit(r rowScanner) (*app.AuditEvent, error) {
	var e app.AuditEvent
	var at int64
	var payload string
	if err := r.Scan(&e.ID, &at, &e.ActorType, &e.ActorID, &e.ActorEmail, &e.Event,
		&e.ResourceType, &e.ResourceID, &payload, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = fromMS(at)
	e.Payload = json.RawMessage(payload)
	return &e, nil
}

func (q queries) AuditByID(ctx context.Context, id int64) (*app.AuditEvent, error) {
	e, err := scanAudit(q.queryRow(ctx, "SELECT "+auditColumns+" FROM audit_log WHERE id = ?", id))
	return e, mapErr("audit by id", "audit record not found", err)
}

// ListAudit returns the records matching f, newest first. Every filter has
// an index ending in id, so a page is an index range scan from the cursor.
func (q queries) ListAudit(ctx context.Context, f app.AuditFilter) ([]app.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	lo, hi, empty, err := q.idRange(ctx, f.From, f.To)
	if err != nil {
		return nil, err
	}
	if empty {
		return []app.AuditEvent{}, nil
	}
	if lo > 0 {
		add("id >= ?", lo)
	}
	// One upper bound, not two: SQLite uses only one of several bounds on
	// the rowid for its range scan and filters the rest row by row.
	if f.BeforeID > 0 && (hi == 0 || f.BeforeID < hi) {
		hi = f.BeforeID
	}
	if hi > 0 {
		add("id < ?", hi)
	}
	if f.ResourceType != "" {
		add("resource_type = ?", f.ResourceType)
	}
	if f.ResourceID != "" {
		add("resource_id = ?", f.ResourceID)
	}
	if f.Actor != "" {
		add("(actor_id = ? OR actor_email = ?)", f.Actor, f.Actor)
	}
	if f.Event != "" {
		add("event = ?", f.Event)
	}
	if f.ReadableTypes != nil {
		if len(f.ReadableTypes) == 0 {
			return []app.AuditEvent{}, nil
		}
		args := make([]any, len(f.ReadableTypes))
		for i, t := range f.ReadableTypes {
			args[i] = t
		}
		col := "resource_type"
		if q.dialect == sqliteDialect {
			// Unary + keeps SQLite from walking audit_log_resource for this
			// term, which would sort the whole selection for one page; it
			// scans the id order and skips the hidden types instead. (A
			// resource_type = ? filter still uses the index.)
			col = "+resource_type"
		}
		add(col+" IN (?"+strings.Repeat(", ?", len(args)-1)+")", args...)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = app.DefaultAuditLimit
	case limit > app.MaxAuditLimit:
		limit = app.MaxAuditLimit
	}

	var sb strings.Builder
	sb.WriteString("SELECT " + auditColumns + " FROM audit_log")
	if len(where) > 0 {
		sb.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	sb.WriteString(" ORDER BY id DESC LIMIT ?")
	args = append(args, limit)

	rows, err := q.query(ctx, sb.String(), args...)
	if err != nil {
		return nil, mapErr("list audit", "", err)
	}
	defer rows.Close()
	out := make([]app.AuditEvent, 0, limit)
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, mapErr("list audit", "", err)
		}
		out = append(out, *e)
	}
	return out, mapErr("list audit", "", rows.Err())
}

// idRange turns a time window [from, to) into ids [lo, hi): AppendAudit
// keeps at non-decreasing along the chain, so the first id at or after a time
// is one (at_ms, id) index lookup, and a time filter becomes a primary-key
// range that pages as cheaply as any other (a window deep in history would
// otherwise scan every newer record first). lo or hi is 0 when unbounded;
// empty means nothing can match.
func (q queries) idRange(ctx context.Context, from, to time.Time) (lo, hi int64, empty bool, err error) {
	first := func(t time.Time) (int64, error) {
		var id int64
		err := q.queryRow(ctx, "SELECT id FROM audit_log WHERE at_ms >= ? ORDER BY at_ms, id LIMIT 1", toMS(t)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return id, mapErr("audit time range", "", err)
	}
	if !from.IsZero() {
		if lo, err = first(from); err != nil {
			return 0, 0, false, err
		}
		if lo == 0 { // nothing at or after from
			return 0, 0, true, nil
		}
	}
	if !to.IsZero() {
		if hi, err = first(to); err != nil {
			return 0, 0, false, err
		}
		if hi > 0 && hi <= lo {
			return 0, 0, true, nil
		}
	}
	return lo, hi, false, nil
}

// WalkAudit streams the records with at in [from, to) in ascending id order
// without holding them all in memory. fn must not use the same transaction:
// the rows are still open while it runs.
func (q queries) WalkAudit(ctx context.Context, from, to time.Time, fn func(*app.AuditEvent) error) error {
	lo, hi, empty, err := q.idRange(ctx, from, to)
	if err != nil || empty {
		return err
	}
	var where []string
	var args []any
	if lo > 0 {
		where = append(where, "id >= ?")
		args = append(args, lo)
	}
	if hi > 0 {
		where = append(where, "id < ?")
		args = append(args, hi)
	}
	query := "SELECT " + auditColumns + " FROM audit_log"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id"

	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return mapErr("walk audit", "", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return mapErr("walk audit", "", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return mapErr("walk audit", "", rows.Err())
}

// AppendAudit links e to the newest record and inserts it. Appends are
// serialised so that two transactions can never read the same chain head:
// on SQLite the single IMMEDIATE writer already guarantees it; on
// PostgreSQL a transaction-scoped advisory lock does, held until commit or
// rollback (so a rolled-back append leaves no gap).
func (t *tx) AppendAudit(ctx context.Context, e *app.AuditEvent) error {
	if e.At.IsZero() {
		return app.Errorf(app.EINVALID, "audit event has no time")
	}
	if e.Event == "" {
		return app.Errorf(app.EINVALID, "audit event has no name")
	}
	payload := []byte(e.Payload)
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte(`{}`)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, payload); err != nil {
		return app.Errorf(app.EINVALID, "audit payload is not valid JSON")
	}

	if t.dialect == postgresDialect {
		if _, err := t.exec(ctx, "SELECT pg_advisory_xact_lock(?)", auditLockKey); err != nil {
			return mapErr("append audit: lock", "", err)
		}
	}
	lastID, lastAtMS, lastHash := int64(0), int64(0), app.GenesisHash
	err := t.queryRow(ctx, "SELECT id, at_ms, hash FROM audit_log ORDER BY id DESC LIMIT 1").Scan(&lastID, &lastAtMS, &lastHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) { // no rows: the genesis record
		return mapErr("append audit: read chain head", "", err)
	}

	// Fill the record exactly as it will be stored and read back, so the
	// hash computed here is the hash a verifier recomputes.
	e.ID = lastID + 1
	e.At = e.At.UTC().Truncate(time.Millisecond)
	// at never decreases along the chain (a clock step back or a second
	// server with a lagging clock records the previous time instead); time
	// filters rely on it to become id ranges.
	if prev := fromMS(lastAtMS); e.At.Before(prev) {
		e.At = prev
	}
	e.Payload = json.RawMessage(compact.Bytes())
	e.PrevHash = lastHash
	hash, err := e.ComputeHash()
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	e.Hash = hash

	_, err = t.exec(ctx, "INSERT INTO audit_log ("+auditColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID, toMS(e.At), string(e.ActorType), e.ActorID, e.ActorEmail, e.Event,
		e.ResourceType, e.ResourceID, string(e.Payload), e.PrevHash, e.Hash)
	if err == nil {
		t.appendedAudit = true
	}
	return mapErr("append audit", "", err)
}
