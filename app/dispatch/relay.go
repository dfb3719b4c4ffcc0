package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
)

// Defaults of RelayConfig.
const (
	// DefaultRelayEvery is how often a server looks for relayed work to
	// deliver and for answers to work it relayed.
	DefaultRelayEvery = 200 * time.Millisecond
	// relayStaleAfter is when a relayed item nobody touched is swept away
	// (its dispatching server died before cleaning up).
	relayStaleAfter = time.Hour
)

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Hub is this server's; nil in a server without an agent listener,
	// which can only relay.
	Hub   *Hub
	Store app.Store
	// ServerID is this server process's name (the agent listener's
	// Config.ServerID).
	ServerID string
	// Every defaults to DefaultRelayEvery.
	Every  time.Duration
	Logger *slog.Logger
	Clock  func() time.Time
}

// Relay dispatches host operations to agents whose long-poll another server
// process holds (servers sharing one PostgreSQL database; an agent talks to
// one of them at a time). Work for an agent polling here goes straight to
// the hub. Work for an agent polling elsewhere is written to the database;
// that server's Relay (Run) hands it to its hub and writes the answer back,
// which the dispatching side reads. The dispatcher's deadline bounds both
// sides: when it gives up, the item is cancelled and withdrawn there too.
type Relay struct {
	hub   *Hub
	store app.Store
	self  string
	every time.Duration
	log   *slog.Logger
	now   func() time.Time

	mu sync.Mutex
	// delivering holds the items this server took, by work id: cancelling
	// ends their local dispatch.
	delivering map[string]context.CancelFunc
}

// NewRelay builds a relay; call Run to deliver work relayed to this server.
func NewRelay(cfg RelayConfig) *Relay {
	r := &Relay{hub: cfg.Hub, store: cfg.Store, self: cfg.ServerID, every: cfg.Every, log: cfg.Logger, now: cfg.Clock,
		delivering: map[string]context.CancelFunc{}}
	if r.every <= 0 {
		r.every = DefaultRelayEvery
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// errRelayedRevoked is the reason a delivering server records for a revoked
// agent; the dispatcher turns it back into ErrRevoked.
const errRelayedRevoked = "revoked"

// Dispatch hands w to the agent wherever its poll is and waits for the
// result, with Hub.Dispatch's contract: a *DispatchError when ctx ends
// first (the item withdrawn), ErrRevoked for a revoked agent.
func (r *Relay) Dispatch(ctx context.Context, agentID string, w ops.Work) (ops.Result, error) {
	if r.hub != nil && r.hub.Waiting(agentID) {
		return r.hub.Dispatch(ctx, agentID, w)
	}
	a, err := r.store.AgentByID(ctx, agentID)
	if err != nil {
		return ops.Result{}, fmt.Errorf("dispatch to agent %s: %w", agentID, err)
	}
	switch {
	case a.Server != "" && a.Server != r.self:
		return r.relay(ctx, a.Server, agentID, w)
	case r.hub == nil:
		return ops.Result{}, fmt.Errorf("agent %s has not polled any server yet, and this one has no agent listener", agentID)
	}
	return r.hub.Dispatch(ctx, agentID, w)
}

// relay queues w for server and waits for its answer.
func (r *Relay) relay(ctx context.Context, server, agentID string, w ops.Work) (ops.Result, error) {
	body, err := json.Marshal(w)
	if err != nil {
		return ops.Result{}, fmt.Errorf("relay work %s: %w", w.ID, err)
	}
	now := r.now()
	item := &app.RelayedWork{WorkID: w.ID, AgentID: agentID, Server: server, Work: body, State: app.RelayQueued,
		CreatedAt: now, UpdatedAt: now}
	create := func() error {
		return r.store.WithTx(ctx, func(tx app.Tx) error { return tx.CreateRelayedWork(ctx, item) })
	}
	if err := create(); app.ErrCode(err) == app.ECONFLICT {
		// The same work id is the same operation (a resume after the
		// previous dispatcher died): take over its item.
		cur, gerr := r.store.RelayedWorkByID(ctx, w.ID)
		switch {
		case gerr != nil:
			return ops.Result{}, fmt.Errorf("relay work %s to server %s: %w", w.ID, server, gerr)
		case cur.State == app.RelayDone:
			return r.collect(context.WithoutCancel(ctx), cur)
		case cur.State == app.RelayCancelled:
			r.delete(ctx, w.ID)
			if err := create(); err != nil {
				return ops.Result{}, fmt.Errorf("relay work %s to server %s: %w", w.ID, server, err)
			}
		default:
			server = cur.Server
		}
	} else if err != nil {
		return ops.Result{}, fmt.Errorf("relay work %s to server %s: %w", w.ID, server, err)
	}
	t := time.NewTicker(r.every)
	defer t.Stop()
	lastLook := now
	for {
		select {
		case <-ctx.Done():
			return r.withdraw(ctx, agentID, w.ID)
		case <-t.C:
		}
		cur, err := r.store.RelayedWorkByID(ctx, w.ID)
		if app.ErrCode(err) == app.ENOTFOUND {
			return ops.Result{}, fmt.Errorf("relayed work %s to server %s vanished", w.ID, server)
		} else if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("agent relay: read relayed work", "work_id", w.ID, "err", err)
			}
			continue
		}
		if cur.State == app.RelayDone {
			return r.collect(context.WithoutCancel(ctx), cur)
		}
		// Not taken yet: the agent may have moved to another server (or
		// that server restarted under a new id). Follow it.
		if cur.State == app.RelayQueued && r.now().Sub(lastLook) >= time.Second {
			lastLook = r.now()
			if a, err := r.store.AgentByID(ctx, agentID); err == nil && a.Server != server && r.unqueue(ctx, w.ID) {
				return r.Dispatch(ctx, agentID, w)
			}
		}
	}
}

// unqueue takes back an item nobody has taken yet.
func (r *Relay) unqueue(ctx context.Context, workID string) bool {
	var ok bool
	err := r.store.WithTx(ctx, func(tx app.Tx) (err error) {
		if ok, err = tx.MoveRelayedWork(ctx, workID, []app.RelayState{app.RelayQueued}, app.RelayCancelled, r.now()); err != nil || !ok {
			return err
		}
		return tx.DeleteRelayedWork(ctx, workID)
	})
	return err == nil && ok
}

// withdraw cancels an item whose dispatcher gave up. An answer that came
// just before wins, as in Hub.Dispatch.
func (r *Relay) withdraw(ctx context.Context, agentID, workID string) (ops.Result, error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var cancelled bool
	err := r.store.WithTx(dctx, func(tx app.Tx) (err error) {
		cancelled, err = tx.MoveRelayedWork(dctx, workID, []app.RelayState{app.RelayQueued, app.RelayTaken}, app.RelayCancelled, r.now())
		return err
	})
	if err == nil && !cancelled {
		if cur, err := r.store.RelayedWorkByID(dctx, workID); err == nil && cur.State == app.RelayDone {
			return r.collect(dctx, cur)
		}
	}
	if err != nil {
		r.log.Warn("agent relay: cancel relayed work", "work_id", workID, "err", err)
	}
	// Whether the agent got it is known only on the delivering server: say
	// it may have, so nobody retries blindly.
	return ops.Result{}, &DispatchError{AgentID: agentID, WorkID: workID, Delivered: true, Err: ctx.Err()}
}

// collect turns a done item into Dispatch's answer and deletes it.
func (r *Relay) collect(ctx context.Context, cur *app.RelayedWork) (ops.Result, error) {
	if err := r.store.WithTx(ctx, func(tx app.Tx) error { return tx.DeleteRelayedWork(ctx, cur.WorkID) }); err != nil {
		r.log.Warn("agent relay: delete collected work", "work_id", cur.WorkID, "err", err)
	}
	switch {
	case cur.Error == errRelayedRevoked:
		return ops.Result{}, ErrRevoked
	case cur.Error != "":
		return ops.Result{}, fmt.Errorf("server %s could not deliver work %s to agent %s: %s", cur.Server, cur.WorkID, cur.AgentID, cur.Error)
	}
	var res ops.Result
	if err := json.Unmarshal(cur.Result, &res); err != nil {
		return ops.Result{}, fmt.Errorf("relayed result of work %s: %w", cur.WorkID, err)
	}
	return res, nil
}

// Run delivers work relayed to this server until ctx ends; local
// dispatches of taken items end with it. A relay without a hub has nothing
// to deliver and needs no Run.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	lastSweep := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := r.now(); now.Sub(lastSweep) > time.Minute {
			lastSweep = now
			r.sweep(ctx)
		}
		items, err := r.store.RelayedWorkFor(ctx, r.self)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("agent relay: list relayed work", "err", err)
			}
			continue
		}
		r.step(ctx, &wg, items)
	}
}

// step takes queued items and ends the delivery of cancelled ones. Server
// ids are per process, so items taken by a process that died are never
// listed here again: their dispatcher times out and the sweep removes them.
func (r *Relay) step(ctx context.Context, wg *sync.WaitGroup, items []app.RelayedWork) {
	for i := range items {
		it := items[i]
		r.mu.Lock()
		stop, held := r.delivering[it.WorkID]
		r.mu.Unlock()
		switch it.State {
		case app.RelayQueued:
			if held {
				continue
			}
			var taken bool
			err := r.store.WithTx(ctx, func(tx app.Tx) (err error) {
				taken, err = tx.MoveRelayedWork(ctx, it.WorkID, []app.RelayState{app.RelayQueued}, app.RelayTaken, r.now())
				return err
			})
			if err != nil || !taken {
				continue // cancelled meanwhile, or the next round
			}
			r.log.Info("agent relay: delivering work executed on another server", "work_id", it.WorkID, "agent_id", it.AgentID)
			dctx, cancel := context.WithCancel(ctx)
			r.mu.Lock()
			r.delivering[it.WorkID] = cancel
			r.mu.Unlock()
			wg.Go(func() { r.deliver(dctx, cancel, it) })
		case app.RelayCancelled:
			if held {
				stop() // deliver deletes it once the hub has withdrawn it
			} else {
				r.delete(ctx, it.WorkID)
			}
		}
	}
}

// deliver runs one taken item through the local hub and records the answer.
func (r *Relay) deliver(ctx context.Context, cancel context.CancelFunc, it app.RelayedWork) {
	defer func() {
		cancel()
		r.mu.Lock()
		delete(r.delivering, it.WorkID)
		r.mu.Unlock()
	}()
	var w ops.Work
	if err := json.Unmarshal(it.Work, &w); err != nil {
		r.finish(ctx, it.WorkID, nil, "unreadable work item: "+err.Error())
		return
	}
	res, err := r.hub.Dispatch(ctx, it.AgentID, w)
	bg := context.WithoutCancel(ctx)
	switch {
	case ctx.Err() != nil:
		// Cancelled by the dispatcher (the row says so: nobody waits), or
		// this server is stopping (tell the dispatcher).
		if !r.finish(bg, it.WorkID, nil, "the delivering server stopped before the agent answered") {
			r.delete(bg, it.WorkID)
		}
	case errors.Is(err, ErrRevoked):
		r.finish(bg, it.WorkID, nil, errRelayedRevoked)
	case err != nil:
		r.finish(bg, it.WorkID, nil, err.Error())
	default:
		body, merr := json.Marshal(res)
		if merr != nil {
			r.finish(bg, it.WorkID, nil, "encode the agent's result: "+merr.Error())
			return
		}
		r.finish(bg, it.WorkID, body, "")
	}
}

// finish records the answer of a queued or taken item and reports whether
// it was one.
func (r *Relay) finish(ctx context.Context, workID string, result []byte, reason string) bool {
	var ok bool
	err := r.store.WithTx(ctx, func(tx app.Tx) (err error) {
		ok, err = tx.FinishRelayedWork(ctx, workID, result, reason, r.now())
		return err
	})
	if err != nil {
		r.log.Warn("agent relay: record the answer", "work_id", workID, "err", err)
	}
	return ok
}

func (r *Relay) delete(ctx context.Context, workID string) {
	if err := r.store.WithTx(ctx, func(tx app.Tx) error { return tx.DeleteRelayedWork(ctx, workID) }); err != nil {
		r.log.Warn("agent relay: delete relayed work", "work_id", workID, "err", err)
	}
}

// sweep removes items nobody touched for relayStaleAfter.
func (r *Relay) sweep(ctx context.Context) {
	var n int64
	err := r.store.WithTx(ctx, func(tx app.Tx) (err error) {
		n, err = tx.DeleteStaleRelayedWork(ctx, r.now().Add(-relayStaleAfter))
		return err
	})
	if err != nil {
		r.log.Warn("agent relay: sweep", "err", err)
	} else if n > 0 {
		r.log.Info("agent relay: swept stale relayed work", "count", n)
	}
}
