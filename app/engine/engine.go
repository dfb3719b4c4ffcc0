// Package engine executes change requests that entered the executing state:
// it claims each through a lease row so two servers on one database never run
// the same request, runs the operations in order, records every step with
// its audit event, and marks requests whose worker died as interrupted.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Config tunes an Engine; zero values take the defaults.
type Config struct {
	Store    app.Store
	Registry *app.Registry
	Sealer   app.Sealer
	Logger   *slog.Logger
	Clock    app.Clock
	// LeaseTTL is how long a claim lasts without renewal (default 30 s).
	// A request whose worker stopped renewing becomes interrupted after it.
	LeaseTTL time.Duration
	// OpTimeout bounds one operation (default 2 min).
	OpTimeout time.Duration
	// Poll is how often the queue is checked without a notification
	// (default 1 s); Notify makes pick-up immediate in this process.
	Poll time.Duration
	// Workers is how many requests run at once (default 4).
	Workers int
	// PerConnector is how many of them may run against one connector at
	// once (default 2, at most Workers), so a target that hangs holds only
	// its own slots and every other connector keeps moving.
	PerConnector int
	// DrainTimeout is how long operations in flight may run on after Run's
	// context ends (default 25 s); then they are cancelled, their outcome
	// is checked on the next run.
	DrainTimeout time.Duration
	// Succeeded, when set, runs on the worker after a request succeeded:
	// the targeted sync of the assets it touched
	// (app.Service.SyncChangeAssets). Its error is logged and never changes
	// the request's outcome; the next full sync catches up.
	Succeeded func(ctx context.Context, changeID int64) error
}

// MaxRequeues is how many times a request may be handed back after its
// worker stopped without finishing (crash, lost lease, database error)
// before it waits for a person: a request that keeps killing its worker
// must not loop. A graceful shutdown's hand-back does not count.
const MaxRequeues = 3

// errShutdown cancels operations still running when the drain timeout ends.
var errShutdown = errors.New("server shut down")

// errAuditWrite marks a failed audit append, so the request records that
// cause rather than a generic database error.
var errAuditWrite = errors.New("audit write failed")

// Engine runs queued change requests.
type Engine struct {
	cfg    Config
	owner  string // this process's lease identity
	log    *slog.Logger
	now    app.Clock
	wake   chan struct{}
	slots  chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	busy   map[int64]int // connector id -> requests running here
	active sync.Map      // change id -> struct{}: running here
	// draining is set when Run's context ends: workers hand their request
	// back between operations instead of starting the next one.
	draining atomic.Bool
}

// New builds an engine; call Run to start it.
func New(cfg Config) *Engine {
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.PerConnector <= 0 {
		cfg.PerConnector = 2
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 25 * time.Second
	}
	cfg.PerConnector = min(cfg.PerConnector, cfg.Workers)
	e := &Engine{cfg: cfg, log: cfg.Logger, now: cfg.Clock, wake: make(chan struct{}, 1),
		slots: make(chan struct{}, cfg.Workers), busy: map[int64]int{}}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.now == nil {
		e.now = time.Now
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	e.owner = "engine-" + hex.EncodeToString(b[:])
	return e
}

// Draining reports whether Run's context has ended and the engine is
// finishing its operations in flight (or has finished): a server in this
// state is not ready for new work.
func (e *Engine) Draining() bool { return e.draining.Load() }

// Notify wakes the engine after a request was queued; it never blocks.
func (e *Engine) Notify(int64) {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx ends, then drains: it claims nothing more, lets the
// operations in flight finish within DrainTimeout and records their
// results, and each worker hands its request back between operations
// (lease released, still executing), so the next server to start, or
// another one sharing the database, continues it at once. An operation
// still running at the timeout is cancelled; its outcome is reconciled on
// that next run.
func (e *Engine) Run(ctx context.Context) {
	// Work outlives ctx: the drain decides when it stops.
	work, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stop(nil)
	t := time.NewTicker(e.cfg.Poll)
	defer t.Stop()
	var remote <-chan struct{} // other servers queued work (nil: poll only)
	if w, ok := e.cfg.Store.(app.Waker); ok {
		remote = w.Wake(ctx)
	}
	for {
		e.reapExpired(ctx)
		e.dispatch(ctx, work)
		select {
		case <-ctx.Done():
			e.drain(stop)
			return
		case <-e.wake:
		case <-remote:
		case <-t.C:
		}
	}
}

// drain waits for the workers, cancelling their operations when the drain
// timeout ends.
func (e *Engine) drain(stop context.CancelCauseFunc) {
	e.draining.Store(true)
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	default:
	}
	e.log.Info("engine: draining: finishing the operations in flight", "timeout", e.cfg.DrainTimeout)
	timer := time.NewTimer(e.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		e.log.Warn("engine: drain timeout: cancelling the operations still running; their outcome is checked on the next run")
		stop(errShutdown)
		<-done
	}
	e.log.Info("engine: drained")
}

// dispatch claims queued requests, emergencies first, while worker slots
// are free and the request's connector is under its limit. It looks past
// the requests of a saturated connector, so a hung target delays only its
// own queue.
func (e *Engine) dispatch(ctx, work context.Context) {
	queued, err := e.cfg.Store.QueuedExecutions(ctx, 0)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("engine: list queued executions", "err", err)
		}
		return
	}
	for _, q := range queued {
		if !e.reserve(q.ConnectorID) {
			continue
		}
		select {
		case e.slots <- struct{}{}:
		default:
			e.release(q.ConnectorID)
			return // all workers busy; a finishing worker wakes the loop
		}
		claimed, err := e.claim(ctx, q.ID)
		if err != nil || !claimed {
			<-e.slots
			e.release(q.ConnectorID)
			if err != nil && ctx.Err() == nil {
				e.log.Error("engine: claim", "change_id", q.ID, "err", err)
			}
			continue
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer e.Notify(0) // a slot is free: claim the next request now, not at the poll
			defer e.release(q.ConnectorID)
			defer func() { <-e.slots }()
			e.active.Store(q.ID, struct{}{})
			defer e.active.Delete(q.ID)
			e.execute(work, q.ID)
		}()
	}
}

// reserve takes one of connector's slots if it has one free.
func (e *Engine) reserve(connector int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.busy[connector] >= e.cfg.PerConnector {
		return false
	}
	e.busy[connector]++
	return true
}

func (e *Engine) release(connector int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.busy[connector]--; e.busy[connector] <= 0 {
		delete(e.busy, connector)
	}
}

func (e *Engine) claim(ctx context.Context, id int64) (bool, error) {
	var ok bool
	err := e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		var err error
		ok, err = tx.ClaimExecution(ctx, id, e.owner, e.now().Add(e.cfg.LeaseTTL))
		return err
	})
	return ok, err
}

// reapExpired hands back requests whose worker stopped renewing its lease
// (its server crashed or lost the database). Any server does it, including
// the one that restarted after the crash; reconciliation on the next run
// settles the operation that was in flight.
func (e *Engine) reapExpired(ctx context.Context) {
	ids, err := e.cfg.Store.ExpiredLeases(ctx, e.now())
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("engine: list expired leases", "err", err)
		}
		return
	}
	for _, id := range ids {
		if err := e.requeueExpired(ctx, id); err != nil && ctx.Err() == nil {
			e.log.Error("engine: hand back expired request", "change_id", id, "err", err)
		}
	}
}

const causeLeaseLost = "worker lost its lease: its server stopped renewing it (a crash, or it lost the database)"

func (e *Engine) requeueExpired(ctx context.Context, id int64) error {
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		now := e.now()
		if err := tx.LockChangeRequest(ctx, id); err != nil {
			return err
		}
		cur, err := tx.ChangeRequestByID(ctx, id)
		if err != nil {
			return err
		}
		// Read under the lock: a renewal that committed first wins, one that
		// commits later finds the lease gone.
		if cur.State != app.StateExecuting || cur.LeaseOwner == "" || !cur.LeaseExpiresAt.Before(now) {
			return nil
		}
		for i := range cur.Operations {
			op := &cur.Operations[i]
			if op.Status == app.OpRunning {
				// Its outcome is unknown; the next run reconciles it.
				op.Status = app.OpPending
				op.Error = "interrupted: the worker stopped before it recorded a result"
				if err := tx.UpdateOperation(ctx, op); err != nil {
					return err
				}
			}
		}
		return handBack(ctx, tx, cur, now, causeLeaseLost, true, map[string]any{"lease_owner": cur.LeaseOwner})
	})
}

// handBack releases an executing request's lease so any worker claims it
// at once, recording why it stopped. A counted hand-back (not a graceful
// shutdown) past MaxRequeues leaves it interrupted for a person instead.
func handBack(ctx context.Context, tx app.Tx, cur *app.ChangeRequest, now time.Time, cause string, counted bool, payload map[string]any) error {
	if payload == nil {
		payload = map[string]any{}
	}
	cur.LeaseOwner, cur.LeaseExpiresAt, cur.UpdatedAt = "", time.Time{}, now
	cur.InterruptCause = cause
	if counted {
		cur.Requeues++
	}
	event := "change.requeued"
	payload["cause"], payload["requeues"] = cause, cur.Requeues
	if counted && cur.Requeues >= MaxRequeues {
		cur.State = app.StateInterrupted
		cur.InterruptCause = fmt.Sprintf("%s (stopped %d times without finishing; a person decides)", cause, cur.Requeues)
		event = "change.interrupted"
		payload["from"], payload["to"], payload["reason"] = app.StateExecuting, app.StateInterrupted, cur.InterruptCause
		delete(payload, "cause")
	}
	if err := tx.UpdateChangeRequest(ctx, cur); err != nil {
		return err
	}
	return appendAudit(ctx, tx, now, event, cur.ID, payload)
}

func appendAudit(ctx context.Context, tx app.Tx, at time.Time, event string, changeID int64, payload any) error {
	ev, err := app.NewAuditEvent(at, app.SystemActor("engine"), event, "change_request", fmt.Sprint(changeID), payload)
	if err != nil {
		return err
	}
	if err := tx.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("%w: %w", errAuditWrite, err)
	}
	return nil
}
