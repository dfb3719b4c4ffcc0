package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Change request limits of ListChangeRequests.
const (
	defaultChangeLimit = 50
	maxChangeLimit     = 200
	// defaultQueueLimit is QueuedExecutions' page when the caller gives none.
	defaultQueueLimit = 100
)

// executing is the state the worker's queries select; it is spelled as a
// literal in SQL so that the planner matches the partial index
// change_requests_executing (WHERE state = 'executing').
const executing = string(app.StateExecuting)

const changeColumns = "id, title, description, connector_id, created_by, created_by_email, state, revision, " +
	"emergency, emergency_justification, emergency_by, reviewed_by, reviewed_at, review_comment, " +
	"lease_owner, lease_expires_at, created_at, updated_at, submitted_at, started_at, finished_at, interrupt_cause, requeues"

func scanChange(r rowScanner) (*app.ChangeRequest, error) {
	var c app.ChangeRequest
	var state string
	var reviewed, lease, created, updated, submitted, started, finished int64
	if err := r.Scan(&c.ID, &c.Title, &c.Description, &c.ConnectorID, &c.CreatedBy, &c.CreatedByEmail, &state, &c.Revision,
		&c.Emergency, &c.EmergencyJustification, &c.EmergencyBy, &c.ReviewedBy, &reviewed, &c.ReviewComment,
		&c.LeaseOwner, &lease, &created, &updated, &submitted, &started, &finished, &c.InterruptCause, &c.Requeues); err != nil {
		return nil, err
	}
	c.State = app.ChangeState(state)
	c.ReviewedAt, c.LeaseExpiresAt = fromOptMS(reviewed), fromOptMS(lease)
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	c.SubmittedAt, c.StartedAt, c.FinishedAt = fromOptMS(submitted), fromOptMS(started), fromOptMS(finished)
	return &c, nil
}

const operationColumns = "id, change_request_id, seq, type, params, plan, status, result, error, started_at, finished_at"

func scanOperation(r rowScanner) (*app.ChangeOperation, error) {
	var op app.ChangeOperation
	var params, status, result string
	var started, finished int64
	if err := r.Scan(&op.ID, &op.ChangeRequestID, &op.Seq, &op.Type, &params, &op.Plan, &status, &result, &op.Error,
		&started, &finished); err != nil {
		return nil, err
	}
	op.Params, op.Result = rawJSON(params), rawJSON(result)
	op.Status = app.OpStatus(status)
	op.StartedAt, op.FinishedAt = fromOptMS(started), fromOptMS(finished)
	return &op, nil
}

const approvalColumns = "id, change_request_id, user_id, user_email, decision, comment, revision, content_hash, void, at"

func scanApproval(r rowScanner) (*app.Approval, error) {
	var a app.Approval
	var decision string
	var at int64
	if err := r.Scan(&a.ID, &a.ChangeRequestID, &a.UserID, &a.UserEmail, &decision, &a.Comment, &a.Revision, &a.ContentHash, &a.Void, &at); err != nil {
		return nil, err
	}
	a.Decision = app.Decision(decision)
	a.At = fromMS(at)
	return &a, nil
}

// ChangeRequestByID returns the request with its operations (by seq) and
// approvals (oldest first, void ones included).
func (q queries) ChangeRequestByID(ctx context.Context, id int64) (*app.ChangeRequest, error) {
	c, err := scanChange(q.queryRow(ctx, "SELECT "+changeColumns+" FROM change_requests WHERE id = ?", id))
	if err != nil {
		return nil, mapErr("change request by id", "change request not found", err)
	}
	cs := []app.ChangeRequest{*c}
	if err := q.loadChildren(ctx, cs); err != nil {
		return nil, err
	}
	return &cs[0], nil
}

// ListChangeRequests returns the requests matching f, newest first, with
// their operations and approvals. Every filter has an index ending in id,
// so a page is an index range scan from the cursor; the children of the
// whole page are two more queries, not two per request.
func (q queries) ListChangeRequests(ctx context.Context, f app.ChangeFilter) ([]app.ChangeRequest, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.State != "" {
		add("state = ?", string(f.State))
	}
	if f.ConnectorID != 0 {
		add("connector_id = ?", f.ConnectorID)
	}
	if f.CreatedBy != 0 {
		add("created_by = ?", f.CreatedBy)
	}
	if f.NeedsReview {
		// Spelled as in the partial index change_requests_needs_review.
		add("emergency AND reviewed_by = 0")
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultChangeLimit
	case limit > maxChangeLimit:
		limit = maxChangeLimit
	}

	var sb strings.Builder
	sb.WriteString("SELECT " + changeColumns + " FROM change_requests")
	if len(where) > 0 {
		sb.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	sb.WriteString(" ORDER BY id DESC LIMIT ?")
	args = append(args, limit)

	rows, err := q.query(ctx, sb.String(), args...)
	if err != nil {
		return nil, mapErr("list change requests", "", err)
	}
	out := make([]app.ChangeRequest, 0, limit)
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			rows.Close()
			return nil, mapErr("list change requests", "", err)
		}
		out = append(out, *c)
	}
	// Close before loading the children: a transaction's connection runs
	// one statement at a time.
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr("list change requests", "", err)
	}
	if err := q.loadChildren(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// loadChildren fills the operations, approvals and contributors of cs (at
// most maxChangeLimit requests) with one query each. Requests without any
// get empty, non-nil slices.
func (q queries) loadChildren(ctx context.Context, cs []app.ChangeRequest) error {
	if len(cs) == 0 {
		return nil
	}
	index := make(map[int64]int, len(cs))
	args := make([]any, len(cs))
	for i := range cs {
		index[cs[i].ID] = i
		args[i] = cs[i].ID
		cs[i].Operations = []app.ChangeOperation{}
		cs[i].Approvals = []app.Approval{}
		cs[i].Contributors = []app.Contributor{}
	}
	in := "(" + strings.Repeat("?, ", len(cs)-1) + "?)"

	rows, err := q.query(ctx, "SELECT "+operationColumns+" FROM change_operations WHERE change_request_id IN "+in+
		" ORDER BY change_request_id, seq", args...)
	if err != nil {
		return mapErr("load operations", "", err)
	}
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			rows.Close()
			return mapErr("load operations", "", err)
		}
		c := &cs[index[op.ChangeRequestID]]
		c.Operations = append(c.Operations, *op)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return mapErr("load operations", "", err)
	}

	rows, err = q.query(ctx, "SELECT "+approvalColumns+" FROM approvals WHERE change_request_id IN "+in+
		" ORDER BY change_request_id, id", args...)
	if err != nil {
		return mapErr("load approvals", "", err)
	}
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			rows.Close()
			return mapErr("load approvals", "", err)
		}
		c := &cs[index[a.ChangeRequestID]]
		c.Approvals = append(c.Approvals, *a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return mapErr("load approvals", "", err)
	}

	// The creator first: the join puts them before the editors.
	rows, err = q.query(ctx, "SELECT k.change_request_id, k.user_id, k.user_email FROM change_contributors k "+
		"JOIN change_requests c ON c.id = k.change_request_id WHERE k.change_request_id IN "+in+
		" ORDER BY k.change_request_id, k.user_id <> c.created_by, k.user_id", args...)
	if err != nil {
		return mapErr("load contributors", "", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k app.Contributor
		if err := rows.Scan(&id, &k.UserID, &k.Email); err != nil {
			return mapErr("load contributors", "", err)
		}
		c := &cs[index[id]]
		c.Contributors = append(c.Contributors, k)
	}
	return mapErr("load contributors", "", rows.Err())
}

// ChangesAwaitingExecution lists a connector's submitted and approved
// requests, oldest first.
func (q queries) ChangesAwaitingExecution(ctx context.Context, connectorID int64) ([]int64, error) {
	return q.ids(ctx, "changes awaiting execution",
		"SELECT id FROM change_requests WHERE connector_id = ? AND state IN ('submitted', 'approved') ORDER BY id", connectorID)
}

// QueuedExecutions lists executing requests nobody holds, emergency changes
// first (a revocation must not wait behind routine work), then oldest first;
// a limit of 0 or less means defaultQueueLimit.
func (q queries) QueuedExecutions(ctx context.Context, limit int) ([]app.QueuedExecution, error) {
	if limit <= 0 {
		limit = defaultQueueLimit
	}
	rows, err := q.query(ctx, "SELECT id, connector_id, emergency FROM change_requests WHERE state = '"+executing+
		"' AND lease_owner = '' ORDER BY emergency DESC, id LIMIT ?", limit)
	if err != nil {
		return nil, mapErr("queued executions", "", err)
	}
	defer rows.Close()
	var out []app.QueuedExecution
	for rows.Next() {
		var w app.QueuedExecution
		if err := rows.Scan(&w.ID, &w.ConnectorID, &w.Emergency); err != nil {
			return nil, mapErr("queued executions", "", err)
		}
		out = append(out, w)
	}
	return out, mapErr("queued executions", "", rows.Err())
}

// ExpiredLeases lists executing requests whose owner's lease ended before
// now, oldest first.
func (q queries) ExpiredLeases(ctx context.Context, now time.Time) ([]int64, error) {
	return q.ids(ctx, "expired leases",
		"SELECT id FROM change_requests WHERE state = '"+executing+"' AND lease_owner <> '' AND lease_expires_at < ? ORDER BY id",
		toMS(now))
}

func (q queries) ids(ctx context.Context, op, query string, args ...any) ([]int64, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(op, "", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, mapErr(op, "", err)
		}
		ids = append(ids, id)
	}
	return ids, mapErr(op, "", rows.Err())
}

// CreateChangeRequest inserts c and its operations, setting c.ID and every
// operation's ID and ChangeRequestID. Zero CreatedAt/UpdatedAt become now,
// an empty State is draft and an empty operation Status is pending.
func (t *tx) CreateChangeRequest(ctx context.Context, c *app.ChangeRequest) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	if c.State == "" {
		c.State = app.StateDraft
	}
	c.CreatedAt, c.UpdatedAt = fromMS(toMS(c.CreatedAt)), fromMS(toMS(c.UpdatedAt))
	roundChangeTimes(c)
	err := t.queryRow(ctx, `INSERT INTO change_requests (title, description, connector_id, created_by, created_by_email, state, revision,
emergency, emergency_justification, emergency_by, reviewed_by, reviewed_at, review_comment,
lease_owner, lease_expires_at, created_at, updated_at, submitted_at, started_at, finished_at, interrupt_cause, requeues)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Title, c.Description, c.ConnectorID, c.CreatedBy, c.CreatedByEmail, string(c.State), c.Revision,
		c.Emergency, c.EmergencyJustification, c.EmergencyBy, c.ReviewedBy, toOptMS(c.ReviewedAt), c.ReviewComment,
		c.LeaseOwner, toOptMS(c.LeaseExpiresAt), toMS(c.CreatedAt), toMS(c.UpdatedAt),
		toOptMS(c.SubmittedAt), toOptMS(c.StartedAt), toOptMS(c.FinishedAt), c.InterruptCause, c.Requeues).Scan(&c.ID)
	if err != nil {
		return mapErr("create change request", "", err)
	}
	given := c.Contributors
	c.Contributors = []app.Contributor{}
	for _, k := range append([]app.Contributor{{UserID: c.CreatedBy, Email: c.CreatedByEmail}}, given...) {
		if c.IsContributor(k.UserID) && len(c.Contributors) > 0 {
			continue
		}
		if err := t.AddContributor(ctx, c.ID, k); err != nil {
			return err
		}
		c.Contributors = append(c.Contributors, k)
	}
	return t.insertOperations(ctx, c.ID, c.Operations)
}

// AddContributor records a user who wrote a revision of a request; one
// already recorded stays as they were.
func (t *tx) AddContributor(ctx context.Context, changeID int64, k app.Contributor) error {
	_, err := t.exec(ctx, `INSERT INTO change_contributors (change_request_id, user_id, user_email) VALUES (?, ?, ?)
ON CONFLICT (change_request_id, user_id) DO NOTHING`, changeID, k.UserID, k.Email)
	return mapErr("add contributor", "", err)
}

// UpdateChangeRequest writes the request's own mutable columns (all but
// created_by, created_by_email and created_at; not its operations or
// approvals). A zero UpdatedAt becomes now; other zero times are stored as
// "not yet".
func (t *tx) UpdateChangeRequest(ctx context.Context, c *app.ChangeRequest) error {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now()
	}
	c.UpdatedAt = fromMS(toMS(c.UpdatedAt))
	roundChangeTimes(c)
	res, err := t.exec(ctx, `UPDATE change_requests SET title = ?, description = ?, connector_id = ?, state = ?, revision = ?,
emergency = ?, emergency_justification = ?, emergency_by = ?, reviewed_by = ?, reviewed_at = ?, review_comment = ?,
lease_owner = ?, lease_expires_at = ?, updated_at = ?, submitted_at = ?, started_at = ?, finished_at = ?,
interrupt_cause = ?, requeues = ?
WHERE id = ?`,
		c.Title, c.Description, c.ConnectorID, string(c.State), c.Revision,
		c.Emergency, c.EmergencyJustification, c.EmergencyBy, c.ReviewedBy, toOptMS(c.ReviewedAt), c.ReviewComment,
		c.LeaseOwner, toOptMS(c.LeaseExpiresAt), toMS(c.UpdatedAt),
		toOptMS(c.SubmittedAt), toOptMS(c.StartedAt), toOptMS(c.FinishedAt), c.InterruptCause, c.Requeues, c.ID)
	if err != nil {
		return mapErr("update change request", "", err)
	}
	if err := mustAffect(res, "update change request", "change request not found"); err != nil {
		return err
	}
	if c.State == app.StateExecuting && c.LeaseOwner == "" && t.dialect == postgresDialect {
		// Delivered at commit, so other servers' engines wake only for
		// work they can see.
		if _, err := t.exec(ctx, "SELECT pg_notify('"+queueChannel+"', '')"); err != nil {
			return mapErr("notify queued execution", "", err)
		}
	}
	return nil
}

func roundChangeTimes(c *app.ChangeRequest) {
	c.ReviewedAt, c.LeaseExpiresAt = roundOpt(c.ReviewedAt), roundOpt(c.LeaseExpiresAt)
	c.SubmittedAt, c.StartedAt, c.FinishedAt = roundOpt(c.SubmittedAt), roundOpt(c.StartedAt), roundOpt(c.FinishedAt)
}

// ReplaceOperations deletes the request's operations (and so any reveal of
// them) and inserts ops, setting their IDs and ChangeRequestID in place.
func (t *tx) ReplaceOperations(ctx context.Context, changeID int64, ops []app.ChangeOperation) error {
	if _, err := t.exec(ctx, "DELETE FROM change_operations WHERE change_request_id = ?", changeID); err != nil {
		return mapErr("replace operations", "", err)
	}
	return t.insertOperations(ctx, changeID, ops)
}

// insertOperations inserts ops of request changeID as given (Seq included),
// filling in IDs, ChangeRequestID and an empty Status as pending.
func (t *tx) insertOperations(ctx context.Context, changeID int64, ops []app.ChangeOperation) error {
	for i := range ops {
		op := &ops[i]
		op.ChangeRequestID = changeID
		if op.Status == "" {
			op.Status = app.OpPending
		}
		op.StartedAt, op.FinishedAt = roundOpt(op.StartedAt), roundOpt(op.FinishedAt)
		err := t.queryRow(ctx, `INSERT INTO change_operations (change_request_id, seq, type, params, plan, status, result, error, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			changeID, op.Seq, op.Type, string(op.Params), op.Plan, string(op.Status), string(op.Result), op.Error,
			toOptMS(op.StartedAt), toOptMS(op.FinishedAt)).Scan(&op.ID)
		if err != nil {
			return mapErr(fmt.Sprintf("insert operation %d", op.Seq), "", err)
		}
	}
	return nil
}

// UpdateOperation writes status, plan, result, error, started_at and
// finished_at of op.ID.
func (t *tx) UpdateOperation(ctx context.Context, op *app.ChangeOperation) error {
	op.StartedAt, op.FinishedAt = roundOpt(op.StartedAt), roundOpt(op.FinishedAt)
	res, err := t.exec(ctx, `UPDATE change_operations SET status = ?, plan = ?, result = ?, error = ?, started_at = ?, finished_at = ?
WHERE id = ?`,
		string(op.Status), op.Plan, string(op.Result), op.Error, toOptMS(op.StartedAt), toOptMS(op.FinishedAt), op.ID)
	if err != nil {
		return mapErr("update operation", "", err)
	}
	return mustAffect(res, "update operation", "operation not found")
}

// AddApproval inserts a and sets a.ID; a zero At becomes now.
func (t *tx) AddApproval(ctx context.Context, a *app.Approval) error {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	a.At = fromMS(toMS(a.At))
	err := t.queryRow(ctx, `INSERT INTO approvals (change_request_id, user_id, user_email, decision, comment, revision, content_hash, void, at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.ChangeRequestID, a.UserID, a.UserEmail, string(a.Decision), a.Comment, a.Revision, a.ContentHash, a.Void, toMS(a.At)).Scan(&a.ID)
	return mapErr("add approval", "", err)
}

// VoidApprovals marks every approval of a request void; approvals stay as
// the record of who decided what.
func (t *tx) VoidApprovals(ctx context.Context, changeID int64) error {
	_, err := t.exec(ctx, "UPDATE approvals SET void = ? WHERE change_request_id = ? AND NOT void", true, changeID)
	return mapErr("void approvals", "", err)
}

// ClaimExecution takes the lease of a queued executing request. It is one
// conditional UPDATE, so two workers (or two servers on PostgreSQL, where
// the loser's UPDATE waits for the winner's row lock and then re-checks the
// condition) can never both win.
func (t *tx) ClaimExecution(ctx context.Context, changeID int64, owner string, until time.Time) (bool, error) {
	if owner == "" {
		return false, app.Errorf(app.EINVALID, "a lease needs an owner")
	}
	res, err := t.exec(ctx, "UPDATE change_requests SET lease_owner = ?, lease_expires_at = ? WHERE id = ? AND state = '"+executing+"' AND lease_owner = ''",
		owner, toMS(until), changeID)
	return affectedOne(res, err, "claim execution")
}

// RenewLease extends owner's lease; false when the request is no longer
// executing or someone else holds it.
func (t *tx) RenewLease(ctx context.Context, changeID int64, owner string, until time.Time) (bool, error) {
	if owner == "" {
		return false, app.Errorf(app.EINVALID, "a lease needs an owner")
	}
	res, err := t.exec(ctx, "UPDATE change_requests SET lease_expires_at = ? WHERE id = ? AND state = '"+executing+"' AND lease_owner = ?",
		toMS(until), changeID, owner)
	return affectedOne(res, err, "renew lease")
}

// LockChangeRequest takes the request's row lock until the transaction ends,
// so concurrent transitions (two approvals, approve and execute) run one
// after the other on PostgreSQL. SQLite's single IMMEDIATE writer already
// serialises them.
func (t *tx) LockChangeRequest(ctx context.Context, changeID int64) error {
	if t.dialect != postgresDialect {
		return nil
	}
	var id int64
	err := t.queryRow(ctx, "SELECT id FROM change_requests WHERE id = ? FOR UPDATE", changeID).Scan(&id)
	return mapErr("lock change request", "change request not found", err)
}

func affectedOne(res interface{ RowsAffected() (int64, error) }, err error, op string) (bool, error) {
	if err != nil {
		return false, mapErr(op, "", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	return n == 1, nil
}
