package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// errLeaseLost stops a run whose lease another process took over.
var errLeaseLost = errors.New("lease lost")

// recordTimeout bounds one write of a result. Results are recorded on a
// context that neither shutdown nor a lost lease cancels (the owner check
// inside each transaction keeps a lost lease from writing), so an operation
// that completed is never forgotten because the server was stopping.
const recordTimeout = 20 * time.Second

// recording is ctx without its cancellation, bounded by recordTimeout.
func recording(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
}

// execute runs one claimed request to its end, or until it hands it back
// (drain), loses its lease, or the store fails.
func (e *Engine) execute(ctx context.Context, id int64) {
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go e.keepLease(runCtx, cancel, id)

	succeeded, err := e.run(runCtx, id)
	if succeeded {
		cancel(nil) // the lease is released: stop renewing it
		e.afterSuccess(ctx, id)
		return
	}
	if err == nil {
		return
	}
	rec, done := recording(runCtx)
	defer done()
	cause := context.Cause(runCtx)
	switch {
	case errors.Is(cause, errLeaseLost) || errors.Is(err, errLeaseLost):
		e.log.Warn("engine: lease lost; another worker or the reaper owns the request now", "change_id", id)
		return
	case errors.Is(cause, errShutdown):
		// Cut short by the drain timeout before an operation started.
		if herr := e.handBackMine(rec, id, nil, "server shut down", false); herr != nil {
			e.log.Error("engine: hand back at shutdown; its lease will expire", "change_id", id, "err", herr)
		}
		return
	}
	// The store failed mid-run: record the real cause and hand the request
	// back (counted); if even that fails, the lease expires and the reaper
	// does it.
	why := "database error: " + redact(err.Error())
	if errors.Is(err, errAuditWrite) {
		why = redact(err.Error())
	}
	e.log.Error("engine: run change request", "change_id", id, "err", err)
	if herr := e.handBackMine(rec, id, nil, why, true); herr != nil {
		e.log.Error("engine: hand back after a failure; its lease will expire", "change_id", id, "err", herr)
	}
}

// handBackMine hands back a request this worker holds; op, when not nil, is
// the operation whose outcome the stop left unknown.
func (e *Engine) handBackMine(ctx context.Context, id int64, op *app.ChangeOperation, cause string, counted bool) error {
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		if err := e.checkOwner(ctx, tx, id); err != nil {
			return err
		}
		payload := map[string]any{}
		if op != nil {
			op.Status, op.Error = app.OpPending, "interrupted: "+cause+"; its outcome is checked on resume"
			if err := tx.UpdateOperation(ctx, op); err != nil {
				return err
			}
			payload["operation_id"], payload["seq"] = op.ID, op.Seq
		}
		cur, err := tx.ChangeRequestByID(ctx, id)
		if err != nil {
			return err
		}
		return handBack(ctx, tx, cur, e.now().UTC(), cause, counted, payload)
	})
}

// keepLease renews the lease at a third of its lifetime; losing it cancels
// the run so two workers never act on one request.
func (e *Engine) keepLease(ctx context.Context, cancel context.CancelCauseFunc, id int64) {
	t := time.NewTicker(e.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			var ok bool
			err := e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
				var err error
				ok, err = tx.RenewLease(ctx, id, e.owner, e.now().Add(e.cfg.LeaseTTL))
				return err
			})
			if err != nil && ctx.Err() == nil {
				e.log.Warn("engine: renew lease", "change_id", id, "err", err)
				continue
			}
			if !ok {
				cancel(errLeaseLost)
				return
			}
		}
	}
}

// run runs the request's operations; succeeded says it ended succeeded.
func (e *Engine) run(ctx context.Context, id int64) (succeeded bool, err error) {
	c, err := e.cfg.Store.ChangeRequestByID(ctx, id)
	if err != nil {
		return false, err
	}
	if c.State != app.StateExecuting || c.LeaseOwner != e.owner {
		return false, nil
	}
	connector, err := e.cfg.Store.ConnectorByID(ctx, c.ConnectorID)
	if err != nil {
		return false, err
	}
	if !c.Emergency {
		if refused, err := e.refuseUnapproved(ctx, c); refused || err != nil {
			return false, err
		}
	}
	conn, connErr := app.OpenConnector(ctx, e.cfg.Registry, e.cfg.Sealer, connector)
	if conn != nil {
		defer conn.Close()
	}
	// Results are written on rec: an operation that completed is recorded
	// even when shutdown or a lost lease has cancelled ctx since.
	rec, done := recording(ctx)
	defer done()
	for i := range c.Operations {
		op := &c.Operations[i]
		if op.Status == app.OpSucceeded || op.Status == app.OpSkipped {
			continue // done in an earlier run: resume never repeats it
		}
		if err := e.stopping(ctx); err != nil {
			if errors.Is(err, errLeaseLost) {
				return false, err
			}
			// Between operations: nothing is in doubt, hand it back whole.
			return false, e.handBackMine(rec, c.ID, nil, "server shut down", false)
		}
		if op.OutcomeUnknown() {
			applied, stop, err := e.reconcile(ctx, rec, c, connector, conn, connErr, op)
			if err != nil || stop {
				return false, err
			}
			if applied {
				continue
			}
		}
		if err := e.markRunning(ctx, c, op); err != nil {
			return false, err
		}
		var res *app.OpResult
		runErr := connErr
		if runErr == nil {
			res, runErr = e.runOne(ctx, connector, conn, op, app.OperationKey(c, op))
		}
		if runErr != nil && ctx.Err() != nil {
			cause := context.Cause(ctx)
			if errors.Is(cause, errLeaseLost) {
				return false, cause // the new owner, or the reaper, decides
			}
			// The drain timeout cut it short: the target may or may not have
			// applied it, so the next run reconciles it first.
			return false, e.handBackMine(rec, c.ID, op, "server shut down while the operation ran", false)
		}
		if runErr != nil {
			return false, e.fail(rec, c, op, runErr)
		}
		if err := e.succeed(rec, c, connector, op, res); err != nil {
			return false, err
		}
	}
	if err := e.finish(rec, c); err != nil {
		return false, err
	}
	return true, nil
}

// afterSuccess runs the Succeeded hook on the work context (cancelled when
// the drain times out), bounded like an operation; a draining server
// leaves it to the next full sync.
func (e *Engine) afterSuccess(ctx context.Context, id int64) {
	if e.cfg.Succeeded == nil || e.draining.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.OpTimeout)
	defer cancel()
	if err := e.cfg.Succeeded(ctx, id); err != nil {
		e.log.Warn("engine: targeted sync after success failed; the next full sync catches up", "change_id", id, "err", err)
	}
}

// stopping says why no further operation may start: the lease is lost, or
// the server is draining.
func (e *Engine) stopping(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, errLeaseLost) {
			return errLeaseLost
		}
		return errShutdown
	}
	if e.draining.Load() {
		return errShutdown
	}
	return nil
}

// runOne decodes and executes one operation under the operation timeout.
// key is the operation's app.OperationKey, the same on a resumed run.
func (e *Engine) runOne(ctx context.Context, connector *app.Connector, conn app.Conn, op *app.ChangeOperation, key string) (res *app.OpResult, err error) {
	typed, err := e.cfg.Registry.DecodeOperation(connector.Type, op.Type, op.Params)
	if err != nil {
		return nil, err
	}
	opCtx, cancel := context.WithTimeout(app.WithOperationKey(ctx, key), e.cfg.OpTimeout)
	defer cancel()
	defer func() {
		// An operation's panic fails it; it never takes the server down.
		if v := recover(); v != nil {
			err = fmt.Errorf("operation panicked: %v", v)
		}
	}()
	res, err = typed.Execute(opCtx, conn)
	if err == nil && res == nil {
		res = &app.OpResult{}
	}
	if err != nil && errors.Is(opCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("timed out after %s: %w", e.cfg.OpTimeout, err)
	}
	return res, err
}

// reconcile settles an operation that started in an earlier run and has no
// recorded result, before anything runs again: already applied → recorded
// as succeeded ("reconciled": true); not applied, or a type that cannot
// tell → it runs; unknown → the request stops as interrupted with the
// reason, for a person to resume or to run it again explicitly.
func (e *Engine) reconcile(ctx, rec context.Context, c *app.ChangeRequest, connector *app.Connector, conn app.Conn, connErr error, op *app.ChangeOperation) (applied, stop bool, err error) {
	typed, err := e.cfg.Registry.DecodeOperation(connector.Type, op.Type, op.Params)
	if err != nil {
		return false, false, nil // runs, and fails with this error
	}
	obs, ok := typed.(app.Observer)
	if !ok {
		return false, false, nil
	}
	var r app.Reconciliation
	if connErr != nil {
		err = connErr
	} else {
		r, err = e.observe(ctx, obs, conn)
	}
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errLeaseLost) {
			return false, true, cause
		}
		// Still unknown, nothing written: the next run checks again.
		return false, true, e.handBackMine(rec, c.ID, nil, "server shut down while checking the target", false)
	}
	if err != nil {
		r = app.Reconciliation{Outcome: app.OutcomeUnknown, Reason: "could not check the target: " + err.Error()}
	}
	switch r.Outcome {
	case app.OutcomeNotApplied:
		return false, false, nil
	case app.OutcomeApplied:
		return true, false, e.reconciled(rec, c, op, r)
	}
	return false, true, e.stopUnknown(rec, c, op, r.Reason)
}

// observe asks the target under the operation timeout; a panic is an
// unknown outcome, never a crash.
func (e *Engine) observe(ctx context.Context, obs app.Observer, conn app.Conn) (r app.Reconciliation, err error) {
	opCtx, cancel := context.WithTimeout(ctx, e.cfg.OpTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("check panicked: %v", v)
		}
	}()
	return obs.Observe(opCtx, conn)
}

// reconciled records an operation found already applied as succeeded.
func (e *Engine) reconciled(ctx context.Context, c *app.ChangeRequest, op *app.ChangeOperation, r app.Reconciliation) error {
	reason := r.Reason
	now := e.now().UTC()
	out := map[string]any{"summary": r.Reason, "details": map[string]any{}, "reconciled": true}
	if len(r.Affects) > 0 {
		out["affects"] = r.Affects // read by the next sync, as a run's result would be
	}
	result, err := json.Marshal(out)
	if err != nil {
		return err
	}
	op.Status, op.FinishedAt, op.Error, op.Result = app.OpSucceeded, now, "", result
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		if err := e.checkOwner(ctx, tx, c.ID); err != nil {
			return err
		}
		if err := tx.UpdateOperation(ctx, op); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, "change.operation_reconciled", c.ID,
			map[string]any{"operation_id": op.ID, "seq": op.Seq, "type": op.Type, "summary": reason, "reconciled": true})
	})
}

// stopUnknown interrupts the request at an operation whose outcome cannot
// be told: running it twice (a second generated password, say) is a
// person's decision.
func (e *Engine) stopUnknown(ctx context.Context, c *app.ChangeRequest, op *app.ChangeOperation, reason string) error {
	now := e.now().UTC()
	reason = redact(reason)
	op.Status, op.Error = app.OpPending, app.UnsettledError(reason)
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		if err := e.checkOwner(ctx, tx, c.ID); err != nil {
			return err
		}
		if err := tx.UpdateOperation(ctx, op); err != nil {
			return err
		}
		cur, err := tx.ChangeRequestByID(ctx, c.ID)
		if err != nil {
			return err
		}
		cur.State, cur.UpdatedAt = app.StateInterrupted, now
		cur.LeaseOwner, cur.LeaseExpiresAt = "", time.Time{}
		cur.InterruptCause = fmt.Sprintf("outcome of operation %d (%s) unknown: %s", op.Seq, op.Type, reason)
		if err := tx.UpdateChangeRequest(ctx, cur); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now, "change.interrupted", c.ID, map[string]any{"from": app.StateExecuting, "to": app.StateInterrupted,
			"operation_id": op.ID, "seq": op.Seq, "type": op.Type, "reason": "outcome unknown: " + reason})
	})
}

func (e *Engine) markRunning(ctx context.Context, c *app.ChangeRequest, op *app.ChangeOperation) error {
	op.Status = app.OpRunning
	op.StartedAt = e.now().UTC()
	op.FinishedAt, op.Error = time.Time{}, ""
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		if err := e.checkOwner(ctx, tx, c.ID); err != nil {
			return err
		}
		if err := tx.UpdateOperation(ctx, op); err != nil {
			return err
		}
		return appendAudit(ctx, tx, e.now(), "change.operation_started", c.ID,
			map[string]any{"operation_id": op.ID, "seq": op.Seq, "type": op.Type})
	})
}

// checkOwner refuses to write for a request this worker no longer holds.
func (e *Engine) checkOwner(ctx context.Context, tx app.Tx, id int64) error {
	if err := tx.LockChangeRequest(ctx, id); err != nil {
		return err
	}
	cur, err := tx.ChangeRequestByID(ctx, id)
	if err != nil {
		return err
	}
	if cur.State != app.StateExecuting || cur.LeaseOwner != e.owner {
		return errLeaseLost
	}
	return nil
}

func resultJSON(res *app.OpResult) json.RawMessage {
	out := map[string]any{"summary": res.Summary, "details": res.Details}
	if len(res.Affects) > 0 {
		// Read by the next sync: changes made through Nexplane are not drift.
		out["affects"] = res.Affects
	}
	if res.Reconciled {
		out["reconciled"] = true
	}
	b, err := json.Marshal(out)
	if err != nil {
		return json.RawMessage(`{"summary":"result could not be encoded"}`)
	}
	return b
}

func (e *Engine) succeed(ctx context.Context, c *app.ChangeRequest, connector *app.Connector, op *app.ChangeOperation, res *app.OpResult) error {
	defer clear(res.Reveal)
	defer clear(res.NewCredentials)
	now := e.now().UTC()
	op.Status, op.FinishedAt, op.Result = app.OpSucceeded, now, resultJSON(res)
	payload := map[string]any{"operation_id": op.ID, "seq": op.Seq, "type": op.Type, "summary": res.Summary, "details": res.Details}
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		if err := e.checkOwner(ctx, tx, c.ID); err != nil {
			return err
		}
		if err := tx.UpdateOperation(ctx, op); err != nil {
			return err
		}
		if len(res.Reveal) > 0 {
			sealed, err := e.cfg.Sealer.Seal(res.Reveal, app.RevealAD(c.ID, op.ID))
			if err != nil {
				return fmt.Errorf("seal reveal: %w", err)
			}
			r := &app.Reveal{ChangeRequestID: c.ID, OperationID: op.ID, UserID: c.CreatedBy, Sealed: sealed,
				ExpiresAt: now.Add(app.RevealTTL), CreatedAt: now}
			if err := tx.CreateReveal(ctx, r); err != nil {
				return err
			}
			payload["secret_to_reveal"] = true
		}
		if len(res.NewCredentials) > 0 {
			cur, err := tx.ConnectorByID(ctx, connector.ID)
			if err != nil {
				return err
			}
			sealed, err := e.cfg.Sealer.Seal(res.NewCredentials, cur.CredentialsAD())
			if err != nil {
				return fmt.Errorf("seal rotated credentials: %w", err)
			}
			cur.SealedCredentials, cur.CredentialsUpdatedAt, cur.UpdatedAt = sealed, now, now
			if err := tx.UpdateConnector(ctx, cur); err != nil {
				return err
			}
			payload["credentials_rotated"] = true
		}
		event := "change.operation_succeeded"
		if res.Reconciled {
			event, payload["reconciled"] = "change.operation_reconciled", true
		}
		return appendAudit(ctx, tx, e.now(), event, c.ID, payload)
	})
}

// refuseUnapproved counts the approvals again, from scratch, before the
// request touches its target: an approver disabled or demoted, or a
// connector changed, since execute was asked must not let it run. A request
// without enough valid approvals fails with its pending operations skipped
// and the reason in its audit record; an emergency change never gets here.
func (e *Engine) refuseUnapproved(ctx context.Context, c *app.ChangeRequest) (refused bool, err error) {
	err = e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		if err := e.checkOwner(ctx, tx, c.ID); err != nil {
			return err
		}
		cur, err := tx.ChangeRequestByID(ctx, c.ID)
		if err != nil {
			return err
		}
		connector, err := tx.ConnectorByID(ctx, cur.ConnectorID)
		if err != nil {
			return err
		}
		tally, err := app.TallyApprovals(ctx, tx, cur, connector)
		if err != nil || tally.Enough() {
			return err
		}
		refused = true
		var skipped int
		for i := range cur.Operations {
			o := &cur.Operations[i]
			if o.Status == app.OpPending {
				o.Status = app.OpSkipped
				if err := tx.UpdateOperation(ctx, o); err != nil {
					return err
				}
				skipped++
			}
		}
		return e.close(ctx, tx, cur, app.StateFailed, map[string]any{"reason": "not run: " + tally.Shortfall(),
			"approvals": tally.Valid, "required_approvals": tally.Required, "skipped": skipped})
	})
	return refused, err
}

// fail records the failed operation, skips the rest and fails the request.
func (e *Engine) fail(ctx context.Context, c *app.ChangeRequest, op *app.ChangeOperation, runErr error) error {
	now := e.now().UTC()
	msg := redact(runErr.Error())
	op.Status, op.FinishedAt, op.Error = app.OpFailed, now, msg
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		if err := e.checkOwner(ctx, tx, c.ID); err != nil {
			return err
		}
		if err := tx.UpdateOperation(ctx, op); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, now, "change.operation_failed", c.ID,
			map[string]any{"operation_id": op.ID, "seq": op.Seq, "type": op.Type, "error": msg}); err != nil {
			return err
		}
		var skipped int
		for i := range c.Operations {
			o := &c.Operations[i]
			if o.Seq > op.Seq && o.Status == app.OpPending {
				o.Status = app.OpSkipped
				if err := tx.UpdateOperation(ctx, o); err != nil {
					return err
				}
				skipped++
			}
		}
		return e.close(ctx, tx, c, app.StateFailed, map[string]any{"failed_operation": op.Seq, "skipped": skipped})
	})
}

func (e *Engine) finish(ctx context.Context, c *app.ChangeRequest) error {
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		if err := e.checkOwner(ctx, tx, c.ID); err != nil {
			return err
		}
		return e.close(ctx, tx, c, app.StateSucceeded, nil)
	})
}

func (e *Engine) close(ctx context.Context, tx app.Tx, c *app.ChangeRequest, to app.ChangeState, payload map[string]any) error {
	cur, err := tx.ChangeRequestByID(ctx, c.ID)
	if err != nil {
		return err
	}
	now := e.now().UTC()
	cur.State, cur.FinishedAt, cur.UpdatedAt = to, now, now
	cur.LeaseOwner, cur.LeaseExpiresAt = "", time.Time{}
	if err := tx.UpdateChangeRequest(ctx, cur); err != nil {
		return err
	}
	if payload == nil {
		payload = map[string]any{}
	}
	payload["from"], payload["to"] = app.StateExecuting, to
	return appendAudit(ctx, tx, now, "change."+string(to), c.ID, payload)
}

// redact trims an operation error for the record. Drivers promise their
// messages hold no secrets; this bounds the length as a second guard.
func redact(msg string) string {
	msg = strings.TrimSpace(msg)
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	return msg
}
