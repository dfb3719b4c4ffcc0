// Package dispatch is the agents' work queue: the Hub hands work to agents'
// long-polls and takes their results, the Relay reaches agents whose poll
// another server process holds, and WatchRevocations closes the polls of
// agents revoked elsewhere. It knows nothing of HTTP; app/agentapi serves
// the polls.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// ErrRevoked is what Poll and Enqueue return for a revoked agent.
var ErrRevoked = errors.New("agent is revoked")

// errHubClosed is returned by Enqueue after Close.
var errHubClosed = errors.New("agent hub is shut down")

// Defaults of HubConfig.
const (
	// DefaultRedeliverAfter is how long a delivered item waits for its
	// result before the next poll carries it again (the response may never
	// have arrived). The agent remembers finished ids, so a redelivered item
	// is answered, not run twice.
	DefaultRedeliverAfter = 2 * time.Minute
	// maxWorkPerPoll bounds one poll response.
	maxWorkPerPoll = 100
)

// HubConfig configures a Hub.
type HubConfig struct {
	// OnResult is called (outside the hub's lock, on the request's
	// goroutine) for each result of an item delivered to that agent.
	// Results for items the agent was never given are dropped.
	OnResult func(agentID string, r ops.Result)
	// RedeliverAfter defaults to DefaultRedeliverAfter.
	RedeliverAfter time.Duration
	Logger         *slog.Logger
	Clock          func() time.Time
}

// Hub hands work to agents' long-polls and takes their results. It is in
// memory and per process: the item's owner (the executor) keeps the durable
// record and times out when no result comes. Nothing here runs per agent:
// state exists only for agents with queued work or an open poll, and a
// poll waits on the connection's own goroutine.
type Hub struct {
	mu       sync.Mutex
	boxes    map[string]*mailbox
	revoked  map[string]bool
	closed   bool
	onResult func(string, ops.Result)
	redeliv  time.Duration
	log      *slog.Logger
	now      func() time.Time
	// dispatches are the callers of Dispatch waiting for a result, by
	// agent id, then work id. Only agents with such a caller have an entry.
	dispatches map[string]map[string]chan dispatchOutcome
}

type mailbox struct {
	pending  []ops.Work
	inflight map[string]*delivery // by work id
	waiter   *waiter              // the agent's open poll, at most one
}

type delivery struct {
	work ops.Work
	sent time.Time
}

// waiter is one open poll. wake is closed exactly once, under the hub's
// lock, by whoever also clears mailbox.waiter.
type waiter struct {
	wake       chan struct{}
	superseded bool // a newer poll of the same agent took over
}

// NewHub makes an empty hub.
func NewHub(cfg HubConfig) *Hub {
	h := &Hub{boxes: map[string]*mailbox{}, revoked: map[string]bool{}, onResult: cfg.OnResult,
		redeliv: cfg.RedeliverAfter, log: cfg.Logger, now: cfg.Clock,
		dispatches: map[string]map[string]chan dispatchOutcome{}}
	if h.redeliv <= 0 {
		h.redeliv = DefaultRedeliverAfter
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.onResult == nil {
		h.onResult = func(agentID string, r ops.Result) {
			h.log.Info("agent result with no taker", "agent_id", agentID, "work_id", r.ID, "ok", r.OK)
		}
	}
	return h
}

func (h *Hub) box(agentID string) *mailbox {
	mb := h.boxes[agentID]
	if mb == nil {
		mb = &mailbox{inflight: map[string]*delivery{}}
		h.boxes[agentID] = mb
	}
	return mb
}

// gc forgets an agent with nothing queued, nothing in flight and no poll.
func (h *Hub) gc(agentID string, mb *mailbox) {
	if len(mb.pending) == 0 && len(mb.inflight) == 0 && mb.waiter == nil && h.boxes[agentID] == mb {
		delete(h.boxes, agentID)
	}
}

// wakeLocked ends the agent's open poll, if any.
func (mb *mailbox) wakeLocked(superseded bool) {
	if w := mb.waiter; w != nil {
		w.superseded = superseded
		close(w.wake)
		mb.waiter = nil
	}
}

// Enqueue queues w for agentID and wakes its open poll. An id already
// queued or in flight for the agent is ignored (redelivery is the hub's
// job, not the caller's).
func (h *Hub) Enqueue(agentID string, w ops.Work) error {
	if w.ID == "" || w.Type == "" {
		return errors.New("agent work needs an id and a type")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return errHubClosed
	case h.revoked[agentID]:
		return ErrRevoked
	}
	mb := h.box(agentID)
	if _, ok := mb.inflight[w.ID]; ok {
		return nil
	}
	for _, p := range mb.pending {
		if p.ID == w.ID {
			return nil
		}
	}
	mb.pending = append(mb.pending, w)
	mb.wakeLocked(false)
	return nil
}

// Cancel forgets a queued or in-flight item (its executor gave up), so
// nothing is left queued for an agent that stayed away. It reports whether
// the item was there.
func (h *Hub) Cancel(agentID, workID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cancelLocked(agentID, workID)
}

func (h *Hub) cancelLocked(agentID, workID string) bool {
	mb := h.boxes[agentID]
	if mb == nil {
		return false
	}
	defer h.gc(agentID, mb)
	if _, ok := mb.inflight[workID]; ok {
		delete(mb.inflight, workID)
		return true
	}
	for i, p := range mb.pending {
		if p.ID == workID {
			mb.pending = append(mb.pending[:i], mb.pending[i+1:]...)
			return true
		}
	}
	return false
}

// take moves queued items, and in-flight ones whose result is overdue, into
// a response.
func (h *Hub) take(mb *mailbox) []ops.Work {
	now := h.now()
	var out []ops.Work
	for _, d := range mb.inflight {
		if len(out) < maxWorkPerPoll && now.Sub(d.sent) >= h.redeliv {
			d.sent = now
			out = append(out, d.work)
		}
	}
	n := min(len(mb.pending), maxWorkPerPoll-len(out))
	for _, w := range mb.pending[:n] {
		mb.inflight[w.ID] = &delivery{work: w, sent: now}
		out = append(out, w)
	}
	mb.pending = mb.pending[n:]
	if len(mb.pending) == 0 {
		mb.pending = nil // let the backing array go
	}
	return out
}

// Poll returns the agent's work, waiting up to wait for some to arrive. It
// returns early with nothing when ctx ends, when a newer poll of the same
// agent takes over, or when the hub closes; with ErrRevoked as soon as the
// agent is revoked (Revoke).
func (h *Hub) Poll(ctx context.Context, agentID string, wait time.Duration) ([]ops.Work, error) {
	h.mu.Lock()
	if h.revoked[agentID] {
		h.mu.Unlock()
		return nil, ErrRevoked
	}
	if h.closed {
		h.mu.Unlock()
		return nil, nil
	}
	mb := h.box(agentID)
	if work := h.take(mb); len(work) > 0 || wait <= 0 {
		h.gc(agentID, mb)
		h.mu.Unlock()
		return work, nil
	}
	mb.wakeLocked(true)
	w := &waiter{wake: make(chan struct{})}
	mb.waiter = w
	h.mu.Unlock()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	woken := false
	select {
	case <-w.wake:
		woken = true
	case <-timer.C:
	case <-ctx.Done():
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if mb.waiter == w {
		mb.waiter = nil
	}
	if h.revoked[agentID] {
		return nil, ErrRevoked
	}
	var work []ops.Work
	// A poll whose client left, or that a newer poll replaced, takes
	// nothing: the work waits for a poll that can carry it.
	if ctx.Err() == nil && !(woken && w.superseded) && h.boxes[agentID] == mb {
		work = h.take(mb)
	}
	h.gc(agentID, mb)
	return work, nil
}

// Results hands each result of an item delivered to agentID to OnResult
// and reports how many it accepted; others (unknown, cancelled, or another
// agent's ids) are dropped and logged.
func (h *Hub) Results(agentID string, rs []ops.Result) (accepted int) {
	var ok []ops.Result
	dispatched := 0
	h.mu.Lock()
	if mb := h.boxes[agentID]; mb != nil {
		for _, r := range rs {
			if _, found := mb.inflight[r.ID]; found {
				delete(mb.inflight, r.ID)
				// A Dispatch caller waiting for this id takes the result.
				if h.finishDispatchLocked(agentID, r.ID, dispatchOutcome{result: r}) {
					dispatched++
					continue
				}
				ok = append(ok, r)
			}
		}
		h.gc(agentID, mb)
	}
	h.mu.Unlock()
	if n := len(rs) - len(ok) - dispatched; n > 0 {
		h.log.Warn("agent sent results for work it was not given", "agent_id", agentID, "count", n)
	}
	for _, r := range ok {
		h.onResult(agentID, r)
	}
	return len(ok) + dispatched
}

// Revoke ends the agent's open poll at once, drops its work and refuses it
// from now on. It is idempotent and cheap, so callers may repeat it.
func (h *Hub) Revoke(agentID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.revoked[agentID] {
		return
	}
	h.revoked[agentID] = true
	for id := range h.dispatches[agentID] {
		h.finishDispatchLocked(agentID, id, dispatchOutcome{err: ErrRevoked})
	}
	mb := h.boxes[agentID]
	if mb == nil {
		return
	}
	mb.wakeLocked(false)
	if n := len(mb.pending) + len(mb.inflight); n > 0 {
		h.log.Warn("dropped work of a revoked agent", "agent_id", agentID, "count", n)
	}
	delete(h.boxes, agentID)
}

// Close ends every open poll (with no work) and refuses new work, so that
// a server shutdown does not wait out 30-second polls.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, mb := range h.boxes {
		mb.wakeLocked(false)
	}
	for agentID, byID := range h.dispatches {
		for id := range byID {
			h.finishDispatchLocked(agentID, id, dispatchOutcome{err: errHubClosed})
		}
	}
}

// Waiting reports whether the agent has an open poll (tests, metrics).
func (h *Hub) Waiting(agentID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	mb := h.boxes[agentID]
	return mb != nil && mb.waiter != nil
}

// dispatchOutcome ends one Dispatch: the agent's result, or why none will
// come.
type dispatchOutcome struct {
	result ops.Result
	err    error
}

// DispatchError is what Dispatch returns when its context ends before the
// agent answers. The item is withdrawn either way; Delivered says whether
// the agent had already received it (and so may still run it, or may have
// run it with its answer lost).
type DispatchError struct {
	AgentID   string
	WorkID    string
	Delivered bool
	Err       error // the context's error (context.DeadlineExceeded, …)
}

func (e *DispatchError) Error() string {
	if e.Delivered {
		return "agent " + e.AgentID + " received work " + e.WorkID + " but sent no result: " + e.Err.Error()
	}
	return "agent " + e.AgentID + " did not pick up work " + e.WorkID + ": " + e.Err.Error()
}

func (e *DispatchError) Unwrap() error { return e.Err }

// WasDelivered reports Delivered (callers that must not import this
// package test for it with an interface).
func (e *DispatchError) WasDelivered() bool { return e.Delivered }

// finishDispatchLocked hands out to the Dispatch caller waiting for
// (agentID, workID), if any, and forgets it. The channel has room for one
// outcome and exactly one is ever sent, so this never blocks.
func (h *Hub) finishDispatchLocked(agentID, workID string, out dispatchOutcome) bool {
	byID := h.dispatches[agentID]
	ch, ok := byID[workID]
	if !ok {
		return false
	}
	delete(byID, workID)
	if len(byID) == 0 {
		delete(h.dispatches, agentID)
	}
	ch <- out
	return true
}

// Dispatch queues w for agentID, waits for the agent's result and returns
// it. The result goes to this caller, not to HubConfig.OnResult. When ctx
// ends first, the item is withdrawn (nothing stays queued for an agent
// that stayed away) and the error is a *DispatchError wrapping ctx's
// error. A revoked agent fails at once with ErrRevoked; Close fails every
// waiting call.
func (h *Hub) Dispatch(ctx context.Context, agentID string, w ops.Work) (ops.Result, error) {
	if w.ID == "" || w.Type == "" {
		return ops.Result{}, errors.New("agent work needs an id and a type")
	}
	if err := ctx.Err(); err != nil {
		return ops.Result{}, err
	}
	ch := make(chan dispatchOutcome, 1)
	h.mu.Lock()
	if h.dispatches[agentID][w.ID] != nil {
		h.mu.Unlock()
		return ops.Result{}, errors.New("work " + w.ID + " is already being dispatched to agent " + agentID)
	}
	if h.dispatches[agentID] == nil {
		h.dispatches[agentID] = map[string]chan dispatchOutcome{}
	}
	h.dispatches[agentID][w.ID] = ch
	h.mu.Unlock()

	if err := h.Enqueue(agentID, w); err != nil {
		h.mu.Lock()
		h.finishDispatchLocked(agentID, w.ID, dispatchOutcome{})
		h.mu.Unlock()
		return ops.Result{}, err
	}
	select {
	case out := <-ch:
		return out.result, out.err
	case <-ctx.Done():
	}
	// Withdraw the item and the waiter in one step, so a result cannot
	// slip in between; one that arrived just before wins.
	h.mu.Lock()
	delivered := false
	if mb := h.boxes[agentID]; mb != nil {
		_, delivered = mb.inflight[w.ID]
	}
	h.cancelLocked(agentID, w.ID)
	h.finishDispatchLocked(agentID, w.ID, dispatchOutcome{err: ctx.Err()})
	h.mu.Unlock()
	if out := <-ch; out.err == nil || !errors.Is(out.err, ctx.Err()) {
		return out.result, out.err
	}
	return ops.Result{}, &DispatchError{AgentID: agentID, WorkID: w.ID, Delivered: delivered, Err: ctx.Err()}
}

// Queued reports how many items the agent has queued or in flight (tests,
// metrics).
func (h *Hub) Queued(agentID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	mb := h.boxes[agentID]
	if mb == nil {
		return 0
	}
	return len(mb.pending) + len(mb.inflight)
}
