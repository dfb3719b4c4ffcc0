package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nexplane/nexplane/app"
)

// Page sizes of the inventory lists.
const (
	defaultAssetLimit   = 50
	maxAssetLimit       = 500
	defaultFindingLimit = 500
	defaultDriftLimit   = 50
	maxDriftLimit       = 500
	// idChunk bounds the ids bound to one statement (TouchAssets,
	// ResolveFindings, loading children), far below SQLite's 32766
	// variables and PostgreSQL's 65535 parameters.
	idChunk = 500
)

const assetColumns = "id, connector_id, kind, external_id, name, attributes, first_seen, last_seen, gone_at"

func scanAsset(r rowScanner) (*app.Asset, error) {
	var a app.Asset
	var attrs string
	var first, last, gone int64
	if err := r.Scan(&a.ID, &a.ConnectorID, &a.Kind, &a.ExternalID, &a.Name, &attrs, &first, &last, &gone); err != nil {
		return nil, err
	}
	a.Attributes = rawJSON(attrs)
	a.FirstSeen, a.LastSeen, a.GoneAt = fromMS(first), fromMS(last), fromOptMS(gone)
	return &a, nil
}

// searchKey is the assets.search column of an asset: its name and external
// id lower-cased (Unicode, the same in both dialects) and joined by a
// newline, so that a search term does not match across the two.
func searchKey(name, externalID string) string {
	return strings.ToLower(name) + "\n" + strings.ToLower(externalID)
}

func (q queries) AssetByID(ctx context.Context, id int64) (*app.Asset, error) {
	a, err := scanAsset(q.queryRow(ctx, "SELECT "+assetColumns+" FROM assets WHERE id = ?", id))
	return a, mapErr("asset by id", "asset not found", err)
}

// ListAssets returns the assets matching f, highest id first. Present-only
// lists (the default) spell gone_at = 0 as the partial indexes do; each
// filter's index ends in id, so a page is an index walk from the cursor.
// Text is a case-insensitive substring of the name or the external id: on
// PostgreSQL a LIKE over assets.search; on SQLite, for terms of three or
// more characters, the trigram index assets_search read in descending
// rowid order (so a common term stops after one page too), and a filtered
// walk for shorter ones.
func (q queries) ListAssets(ctx context.Context, f app.AssetFilter) ([]app.Asset, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	from, order := "assets a", "a.id"
	if f.Text != "" {
		needle := strings.ToLower(f.Text)
		switch {
		case q.dialect == postgresDialect:
			add(`a.search LIKE ? ESCAPE '\'`, "%"+escapeLike(needle)+"%")
		case utf8.RuneCountInString(needle) >= 3:
			// A phrase of the needle's trigrams finds the candidates;
			// instr keeps the meaning exactly that of the walk below.
			from, order = "assets_search JOIN assets a ON a.id = assets_search.rowid", "assets_search.rowid"
			add("assets_search MATCH ? AND instr(a.search, ?) > 0", `"`+strings.ReplaceAll(needle, `"`, `""`)+`"`, needle)
			if f.BeforeID > 0 {
				add("assets_search.rowid < ?", f.BeforeID)
			}
		default:
			// instr needs no escaping and beats LIKE on SQLite.
			add("instr(a.search, ?) > 0", needle)
		}
	}
	if f.ConnectorID != 0 {
		add("a.connector_id = ?", f.ConnectorID)
	}
	if f.Kind != "" {
		add("a.kind = ?", f.Kind)
	}
	if !f.IncludeGone {
		add("a.gone_at = 0")
	}
	switch f.Finding {
	case "":
	case app.FindingAny:
		add("a.id IN (SELECT asset_id FROM findings WHERE resolved_at = 0)")
	default:
		add("a.id IN (SELECT asset_id FROM findings WHERE resolved_at = 0 AND rule = ?)", f.Finding)
	}
	if f.BeforeID > 0 {
		add("a.id < ?", f.BeforeID)
	}
	limit := clampLimit(f.Limit, defaultAssetLimit, maxAssetLimit)

	query := "SELECT a." + strings.ReplaceAll(assetColumns, ", ", ", a.") + " FROM " + from
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY " + order + " DESC LIMIT ?"
	args = append(args, limit)
	return q.listAssets(ctx, "list assets", query, args...)
}

// ConnectorAssets returns every asset of a connector, gone ones included,
// by id (a sync compares them with what it sees).
func (q queries) ConnectorAssets(ctx context.Context, connectorID int64) ([]app.Asset, error) {
	return q.listAssets(ctx, "connector assets", "SELECT "+assetColumns+" FROM assets WHERE connector_id = ? ORDER BY id", connectorID)
}

func (q queries) listAssets(ctx context.Context, op, query string, args ...any) ([]app.Asset, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(op, "", err)
	}
	defer rows.Close()
	var out []app.Asset
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, mapErr(op, "", err)
		}
		out = append(out, *a)
	}
	return out, mapErr(op, "", rows.Err())
}

// escapeLike makes s match itself in a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func clampLimit(limit, def, max int) int {
	switch {
	case limit <= 0:
		return def
	case limit > max:
		return max
	}
	return limit
}

// CreateAsset inserts a and sets a.ID; a second asset with the same
// (connector, kind, external id) is ECONFLICT. A zero FirstSeen becomes now
// and a zero LastSeen FirstSeen.
func (t *tx) CreateAsset(ctx context.Context, a *app.Asset) error {
	if a.FirstSeen.IsZero() {
		a.FirstSeen = time.Now()
	}
	if a.LastSeen.IsZero() {
		a.LastSeen = a.FirstSeen
	}
	a.FirstSeen, a.LastSeen, a.GoneAt = fromMS(toMS(a.FirstSeen)), fromMS(toMS(a.LastSeen)), roundOpt(a.GoneAt)
	err := t.queryRow(ctx, `INSERT INTO assets (connector_id, kind, external_id, name, attributes, search, first_seen, last_seen, gone_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.ConnectorID, a.Kind, a.ExternalID, a.Name, string(a.Attributes), searchKey(a.Name, a.ExternalID),
		toMS(a.FirstSeen), toMS(a.LastSeen), toOptMS(a.GoneAt)).Scan(&a.ID)
	return mapErr("create asset", "", err)
}

// UpdateAsset writes name, attributes, last_seen and gone_at of a.ID (kind
// and external id are its identity and never change).
func (t *tx) UpdateAsset(ctx context.Context, a *app.Asset) error {
	a.LastSeen, a.GoneAt = fromMS(toMS(a.LastSeen)), roundOpt(a.GoneAt)
	res, err := t.exec(ctx, `UPDATE assets SET name = ?, attributes = ?, search = ?, last_seen = ?, gone_at = ? WHERE id = ?`,
		a.Name, string(a.Attributes), searchKey(a.Name, a.ExternalID), toMS(a.LastSeen), toOptMS(a.GoneAt), a.ID)
	if err != nil {
		return mapErr("update asset", "", err)
	}
	return mustAffect(res, "update asset", "asset not found")
}

// TouchAssets sets last_seen of the assets ids, idChunk per statement.
// Unknown ids are ignored.
func (t *tx) TouchAssets(ctx context.Context, ids []int64, lastSeen time.Time) error {
	return forChunks(ids, func(chunk []any) error {
		_, err := t.exec(ctx, "UPDATE assets SET last_seen = ? WHERE id IN "+placeholders(len(chunk)),
			append([]any{toMS(lastSeen)}, chunk...)...)
		return mapErr("touch assets", "", err)
	})
}

// forChunks calls fn with ids in chunks of at most idChunk, as arguments.
func forChunks(ids []int64, fn func(chunk []any) error) error {
	for start := 0; start < len(ids); start += idChunk {
		end := min(start+idChunk, len(ids))
		chunk := make([]any, 0, end-start)
		for _, id := range ids[start:end] {
			chunk = append(chunk, id)
		}
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}

// placeholders is "(?, ?, …)" with n marks (n >= 1).
func placeholders(n int) string {
	return "(" + strings.Repeat("?, ", n-1) + "?)"
}

const findingColumns = "id, asset_id, connector_id, rule, severity, message, remedy_type, remedy_params, first_seen, last_seen, resolved_at"

func scanFinding(r rowScanner) (*app.Finding, error) {
	var f app.Finding
	var severity, params string
	var first, last, resolved int64
	if err := r.Scan(&f.ID, &f.AssetID, &f.ConnectorID, &f.Rule, &severity, &f.Message, &f.RemedyType, &params,
		&first, &last, &resolved); err != nil {
		return nil, err
	}
	f.Severity = app.Severity(severity)
	f.RemedyParams = rawJSON(params)
	f.FirstSeen, f.LastSeen, f.ResolvedAt = fromMS(first), fromMS(last), fromOptMS(resolved)
	return &f, nil
}

// ListFindings returns the findings matching f, most severe first and
// newest first within a severity; at most f.Limit (0 = 500).
func (q queries) ListFindings(ctx context.Context, f app.FindingFilter) ([]app.Finding, error) {
	var where []string
	var args []any
	if f.AssetID != 0 {
		where = append(where, "asset_id = ?")
		args = append(args, f.AssetID)
	}
	if f.ConnectorID != 0 {
		where = append(where, "connector_id = ?")
		args = append(args, f.ConnectorID)
	}
	if f.OpenOnly {
		where = append(where, "resolved_at = 0")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultFindingLimit
	}
	query := "SELECT " + findingColumns + " FROM findings"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr("list findings", "", err)
	}
	defer rows.Close()
	var out []app.Finding
	for rows.Next() {
		fd, err := scanFinding(rows)
		if err != nil {
			return nil, mapErr("list findings", "", err)
		}
		out = append(out, *fd)
	}
	return out, mapErr("list findings", "", rows.Err())
}

// UpsertFinding updates the open finding of (f.AssetID, f.Rule) — severity,
// message, remedy and last_seen — or inserts f as a new open finding with
// FirstSeen = LastSeen. Either way it sets f.ID, f.ConnectorID (always the
// asset's), f.FirstSeen and clears f.ResolvedAt. A zero LastSeen becomes
// now; an unknown asset is ENOTFOUND. One statement: the partial unique
// index findings_open is the conflict target, so concurrent upserts of one
// pair cannot both insert.
func (t *tx) UpsertFinding(ctx context.Context, f *app.Finding) error {
	if f.LastSeen.IsZero() {
		f.LastSeen = time.Now()
	}
	f.LastSeen = fromMS(toMS(f.LastSeen))
	var first int64
	// CASTs: PostgreSQL types a bare parameter in a SELECT list as text.
	err := t.queryRow(ctx, `INSERT INTO findings (asset_id, connector_id, rule, severity, message, remedy_type, remedy_params,
first_seen, last_seen, resolved_at)
SELECT id, connector_id, ?, ?, ?, ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), 0 FROM assets WHERE id = ?
ON CONFLICT (asset_id, rule) WHERE resolved_at = 0 DO UPDATE SET severity = excluded.severity, message = excluded.message,
remedy_type = excluded.remedy_type, remedy_params = excluded.remedy_params, last_seen = excluded.last_seen
RETURNING id, connector_id, first_seen`,
		f.Rule, string(f.Severity), f.Message, f.RemedyType, string(f.RemedyParams), toMS(f.LastSeen), toMS(f.LastSeen), f.AssetID).
		Scan(&f.ID, &f.ConnectorID, &first)
	if err != nil {
		return mapErr("upsert finding", "asset not found", err)
	}
	f.FirstSeen, f.ResolvedAt = fromMS(first), time.Time{}
	return nil
}

// ResolveFindings resolves, at at, the connector's open findings whose ids
// are not in keep, and returns how many it resolved. It reads the open ids
// and updates the difference in chunks, so keep may hold any number of ids.
func (t *tx) ResolveFindings(ctx context.Context, connectorID int64, keep []int64, at time.Time) (int64, error) {
	open, err := t.ids(ctx, "resolve findings", "SELECT id FROM findings WHERE connector_id = ? AND resolved_at = 0", connectorID)
	if err != nil {
		return 0, err
	}
	return t.resolveExcept(ctx, open, keep, at)
}

// ResolveAssetFindings is ResolveFindings for the open findings of the
// assets assetIDs only (a targeted sync judges just those).
func (t *tx) ResolveAssetFindings(ctx context.Context, assetIDs, keep []int64, at time.Time) (int64, error) {
	var open []int64
	err := forChunks(assetIDs, func(chunk []any) error {
		ids, err := t.ids(ctx, "resolve asset findings",
			"SELECT id FROM findings WHERE resolved_at = 0 AND asset_id IN "+placeholders(len(chunk)), chunk...)
		open = append(open, ids...)
		return err
	})
	if err != nil {
		return 0, err
	}
	return t.resolveExcept(ctx, open, keep, at)
}

// resolveExcept resolves the findings open that keep does not hold.
func (t *tx) resolveExcept(ctx context.Context, open, keep []int64, at time.Time) (int64, error) {
	kept := make(map[int64]bool, len(keep))
	for _, id := range keep {
		kept[id] = true
	}
	var gone []int64
	for _, id := range open {
		if !kept[id] {
			gone = append(gone, id)
		}
	}
	var n int64
	err := forChunks(gone, func(chunk []any) error {
		res, err := t.exec(ctx, "UPDATE findings SET resolved_at = ? WHERE resolved_at = 0 AND id IN "+placeholders(len(chunk)),
			append([]any{toMS(at)}, chunk...)...)
		if err != nil {
			return mapErr("resolve findings", "", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("resolve findings: %w", err)
		}
		n += k
		return nil
	})
	return n, err
}

const driftColumns = "id, connector_id, asset_id, kind, external_id, name, change, before, after, detected_at, " +
	"acknowledged_by, acknowledged_at, ack_comment"

func scanDrift(r rowScanner) (*app.Drift, error) {
	var d app.Drift
	var change, before, after string
	var detected, acked int64
	if err := r.Scan(&d.ID, &d.ConnectorID, &d.AssetID, &d.Kind, &d.ExternalID, &d.Name, &change, &before, &after,
		&detected, &d.AcknowledgedBy, &acked, &d.AckComment); err != nil {
		return nil, err
	}
	d.Change = app.DriftChange(change)
	d.Before, d.After = rawJSON(before), rawJSON(after)
	d.DetectedAt, d.AcknowledgedAt = fromMS(detected), fromOptMS(acked)
	return &d, nil
}

func (q queries) DriftByID(ctx context.Context, id int64) (*app.Drift, error) {
	d, err := scanDrift(q.queryRow(ctx, "SELECT "+driftColumns+" FROM drift WHERE id = ?", id))
	return d, mapErr("drift by id", "drift record not found", err)
}

// ListDrift returns the drift records matching f, newest first (keyset by
// id). Open-only lists spell acknowledged_by = 0 as the partial indexes do.
func (q queries) ListDrift(ctx context.Context, f app.DriftFilter) ([]app.Drift, error) {
	var where []string
	var args []any
	if f.ConnectorID != 0 {
		where = append(where, "connector_id = ?")
		args = append(args, f.ConnectorID)
	}
	if f.OpenOnly {
		where = append(where, "acknowledged_by = 0")
	}
	if f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	query := "SELECT " + driftColumns + " FROM drift"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, clampLimit(f.Limit, defaultDriftLimit, maxDriftLimit))

	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr("list drift", "", err)
	}
	defer rows.Close()
	var out []app.Drift
	for rows.Next() {
		d, err := scanDrift(rows)
		if err != nil {
			return nil, mapErr("list drift", "", err)
		}
		out = append(out, *d)
	}
	return out, mapErr("list drift", "", rows.Err())
}

// CreateDrift inserts d and sets d.ID; a zero DetectedAt becomes now.
func (t *tx) CreateDrift(ctx context.Context, d *app.Drift) error {
	if d.DetectedAt.IsZero() {
		d.DetectedAt = time.Now()
	}
	d.DetectedAt, d.AcknowledgedAt = fromMS(toMS(d.DetectedAt)), roundOpt(d.AcknowledgedAt)
	err := t.queryRow(ctx, `INSERT INTO drift (connector_id, asset_id, kind, external_id, name, change, before, after, detected_at,
acknowledged_by, acknowledged_at, ack_comment)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.ConnectorID, d.AssetID, d.Kind, d.ExternalID, d.Name, string(d.Change), string(d.Before), string(d.After),
		toMS(d.DetectedAt), d.AcknowledgedBy, toOptMS(d.AcknowledgedAt), d.AckComment).Scan(&d.ID)
	return mapErr("create drift", "", err)
}

// AcknowledgeDrift closes an open drift record in one conditional UPDATE,
// so of two racing acknowledgements exactly one wins; false when it was
// acknowledged already, ENOTFOUND when there is no such record.
func (t *tx) AcknowledgeDrift(ctx context.Context, id, userID int64, comment string, at time.Time) (bool, error) {
	if userID == 0 {
		return false, app.Errorf(app.EINVALID, "an acknowledgement needs a user")
	}
	res, err := t.exec(ctx, "UPDATE drift SET acknowledged_by = ?, acknowledged_at = ?, ack_comment = ? WHERE id = ? AND acknowledged_by = 0",
		userID, toMS(at), comment, id)
	ok, err := affectedOne(res, err, "acknowledge drift")
	if err != nil || ok {
		return ok, err
	}
	var one int
	err = t.queryRow(ctx, "SELECT 1 FROM drift WHERE id = ?", id).Scan(&one)
	return false, mapErr("acknowledge drift", "drift record not found", err)
}

const syncStateColumns = "connector_id, last_started, last_finished, last_error, assets, next_due"

// SyncStateOf returns a connector's sync bookkeeping; ENOTFOUND before its
// first PutSyncState.
func (q queries) SyncStateOf(ctx context.Context, connectorID int64) (*app.SyncState, error) {
	var s app.SyncState
	var started, finished, due int64
	err := q.queryRow(ctx, "SELECT "+syncStateColumns+" FROM sync_state WHERE connector_id = ?", connectorID).
		Scan(&s.ConnectorID, &started, &finished, &s.LastError, &s.Assets, &due)
	if err != nil {
		return nil, mapErr("sync state", "sync state not found", err)
	}
	s.LastStarted, s.LastFinished, s.NextDue = fromOptMS(started), fromOptMS(finished), fromOptMS(due)
	return &s, nil
}

// DueSyncs lists, by id, the connectors never synced and those whose
// next_due is at or before now.
func (q queries) DueSyncs(ctx context.Context, now time.Time) ([]int64, error) {
	return q.ids(ctx, "due syncs", `SELECT c.id FROM connectors c LEFT JOIN sync_state s ON s.connector_id = c.id
WHERE s.connector_id IS NULL OR s.next_due <= ? ORDER BY c.id`, toMS(now))
}

// PutSyncState inserts or replaces a connector's sync bookkeeping; an
// unknown connector is ENOTFOUND.
func (t *tx) PutSyncState(ctx context.Context, s *app.SyncState) error {
	s.LastStarted, s.LastFinished, s.NextDue = roundOpt(s.LastStarted), roundOpt(s.LastFinished), roundOpt(s.NextDue)
	_, err := t.exec(ctx, "INSERT INTO sync_state ("+syncStateColumns+`) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (connector_id) DO UPDATE SET last_started = excluded.last_started, last_finished = excluded.last_finished,
last_error = excluded.last_error, assets = excluded.assets, next_due = excluded.next_due`,
		s.ConnectorID, toOptMS(s.LastStarted), toOptMS(s.LastFinished), s.LastError, s.Assets, toOptMS(s.NextDue))
	return mapErr("put sync state", "", err)
}

// ChangesTouchingSince lists, by id and with operations and approvals, the
// connector's change requests that may explain what a sync sees changed
// since since: those executing now, those interrupted (mid-execution) at
// or after since, and those finished at or after since.
func (q queries) ChangesTouchingSince(ctx context.Context, connectorID int64, since time.Time) ([]app.ChangeRequest, error) {
	rows, err := q.query(ctx, "SELECT "+changeColumns+" FROM change_requests WHERE connector_id = ? AND (state = '"+executing+"'"+
		" OR (state = 'interrupted' AND updated_at >= ?) OR (finished_at <> 0 AND finished_at >= ?)) ORDER BY id",
		connectorID, toMS(since), toMS(since))
	if err != nil {
		return nil, mapErr("changes touching since", "", err)
	}
	var out []app.ChangeRequest
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			rows.Close()
			return nil, mapErr("changes touching since", "", err)
		}
		out = append(out, *c)
	}
	// Close before loading the children: a transaction's connection runs
	// one statement at a time.
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr("changes touching since", "", err)
	}
	// loadChildren binds one parameter per request: load a page at a time.
	for start := 0; start < len(out); start += maxChangeLimit {
		if err := q.loadChildren(ctx, out[start:min(start+maxChangeLimit, len(out))]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
