// Package engine executes change requests that entered the executing state:
// it claims each through a lease row so two servers on one database never run
// the same request, runs the operations in order, records every step with
// its audit event, and marks requests whose worker died as interrupted.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
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
}

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

// Notify wakes the engine after a request was queued; it never blocks.
func (e *Engine) Notify(int64) {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run works until ctx ends, then waits for running requests to stop. A
// request cut short by shutdown keeps its lease until it expires and then
// becomes interrupted, like after a crash: it never re-runs by itself.
func (e *Engine) Run(ctx context.Context) {
	t := time.NewTicker(e.cfg.Poll)
	defer t.Stop()
	var remote <-chan struct{} // other servers queued work (nil: poll only)
	if w, ok := e.cfg.Store.(app.Waker); ok {
		remote = w.Wake(ctx)
	}
	for {
		e.reapExpired(ctx)
		e.dispatch(ctx)
		select {
		case <-ctx.Done():
			e.wg.Wait()
			return
		case <-e.wake:
		case <-remote:
		case <-t.C:
		}
	}
}

// dispatch claims queued requests, emergencies first, while worker slots
// are free and the request's connector is under its limit. It looks past
// the requests of a saturated connector, so a hung target delays only its
// own queue.
func (e *Engine) dispatch(ctx context.Context) {
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
			e.execute(ctx, q.ID)
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

// reapExpired marks requests whose lease ran out as interrupted. Any server
// does it, including the one that restarted after the crash.
func (e *Engine) reapExpired(ctx context.Context) {
	ids, err := e.cfg.Store.ExpiredLeases(ctx, e.now())
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("engine: list expired leases", "err", err)
		}
		return
	}
	for _, id := range ids {
		if err := e.interrupt(ctx, id); err != nil && ctx.Err() == nil {
			e.log.Error("engine: mark interrupted", "change_id", id, "err", err)
		}
	}
}

func (e *Engine) interrupt(ctx context.Context, id int64) error {
	return e.cfg.Store.WithTx(ctx, func(tx app.Tx) error {
		now := e.now()
		if err := tx.LockChangeRequest(ctx, id); err != nil {
			return err
		}
		before, err := tx.ChangeRequestByID(ctx, id)
		if err != nil {
			return err
		}
		ok, err := tx.InterruptExpired(ctx, id, now)
		if err != nil || !ok {
			return err // the owner renewed, or the request moved on
		}
		for i := range before.Operations {
			op := &before.Operations[i]
			if op.Status == app.OpRunning {
				// Its outcome is unknown; resume runs it again.
				op.Status = app.OpPending
				op.Error = "interrupted: the worker stopped before it finished"
				if err := tx.UpdateOperation(ctx, op); err != nil {
					return err
				}
			}
		}
		return appendAudit(ctx, tx, now, "change.interrupted", id,
			map[string]any{"from": app.StateExecuting, "to": app.StateInterrupted, "lease_owner": before.LeaseOwner})
	})
}

func appendAudit(ctx context.Context, tx app.Tx, at time.Time, event string, changeID int64, payload any) error {
	ev, err := app.NewAuditEvent(at, app.SystemActor("engine"), event, "change_request", fmt.Sprint(changeID), payload)
	if err != nil {
		return err
	}
	return tx.AppendAudit(ctx, ev)
}
