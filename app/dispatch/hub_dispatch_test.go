package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// answer plays an agent: it polls once and answers every item with ok.
func answer(t *testing.T, h *Hub, agentID string) {
	t.Helper()
	w, err := h.Poll(context.Background(), agentID, 5*time.Second)
	if err != nil || len(w) == 0 {
		t.Errorf("agent poll = %v, %v", w, err)
		return
	}
	var rs []ops.Result
	for _, it := range w {
		rs = append(rs, ops.Result{ID: it.ID, OK: true, Summary: "did " + it.Type})
	}
	if n := h.Results(agentID, rs); n != len(rs) {
		t.Errorf("results accepted %d of %d", n, len(rs))
	}
}

func TestHubDispatchGetsTheResult(t *testing.T) {
	var mu sync.Mutex
	var others []ops.Result
	h := NewHub(HubConfig{OnResult: func(_ string, r ops.Result) { mu.Lock(); others = append(others, r); mu.Unlock() }})
	defer h.Close()
	done := make(chan struct{})
	go func() { defer close(done); answer(t, h, "a") }()
	r, err := h.Dispatch(t.Context(), "a", work("w1"))
	<-done
	if err != nil || !r.OK || r.ID != "w1" || r.Summary != "did host.facts.refresh" {
		t.Fatalf("dispatch = %+v, %v", r, err)
	}
	mu.Lock()
	if len(others) != 0 {
		t.Errorf("a dispatched result also went to OnResult: %v", others)
	}
	mu.Unlock()
	if h.Queued("a") != 0 {
		t.Error("work left queued")
	}
	h.mu.Lock()
	if len(h.dispatches) != 0 || len(h.boxes) != 0 {
		t.Errorf("state left behind: boxes %v, dispatches %v", h.boxes, h.dispatches)
	}
	h.mu.Unlock()
	// Plain Enqueue results still go to OnResult.
	_ = h.Enqueue("a", work("w2"))
	answer(t, h, "a")
	mu.Lock()
	defer mu.Unlock()
	if len(others) != 1 || others[0].ID != "w2" {
		t.Errorf("OnResult got %v", others)
	}
}

func TestHubDispatchTimeoutLeavesNothingQueued(t *testing.T) {
	h := NewHub(HubConfig{})
	defer h.Close()

	// Never picked up: withdrawn, not delivered.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := h.Dispatch(ctx, "a", work("w1"))
	var de *DispatchError
	if !errors.As(err, &de) || de.Delivered || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %#v", err)
	}
	if n := h.Queued("a"); n != 0 {
		t.Fatalf("%d items left queued", n)
	}
	if w, _ := h.Poll(t.Context(), "a", 0); len(w) != 0 {
		t.Fatalf("a later poll got withdrawn work: %v", w)
	}

	// Picked up but never answered: withdrawn, reported as delivered, and a
	// late answer is dropped. The dispatcher gives up only once the poll
	// has the item, so a slow machine cannot turn this into the case above.
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	dispatched := make(chan error, 1)
	go func() {
		_, err := h.Dispatch(ctx2, "a", work("w2"))
		dispatched <- err
	}()
	if w, _ := h.Poll(t.Context(), "a", 5*time.Second); len(w) != 1 || w[0].ID != "w2" {
		t.Fatalf("poll got %v", w)
	}
	cancel2()
	if err := <-dispatched; !errors.As(err, &de) || !de.Delivered {
		t.Fatalf("err = %#v", err)
	}
	if n := h.Queued("a"); n != 0 {
		t.Fatalf("%d items left queued", n)
	}
	if n := h.Results("a", []ops.Result{{ID: "w2", OK: true}}); n != 0 {
		t.Error("a late result of withdrawn work was accepted")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.dispatches) != 0 || len(h.boxes) != 0 {
		t.Errorf("state left behind: boxes %v, dispatches %v", h.boxes, h.dispatches)
	}
}

func TestHubDispatchRevokedAndClosed(t *testing.T) {
	h := NewHub(HubConfig{})
	errc := make(chan error, 1)
	go func() { _, err := h.Dispatch(t.Context(), "a", work("w1")); errc <- err }()
	waitUntil(t, func() bool { return h.Queued("a") == 1 })
	h.Revoke("a")
	if err := <-errc; !errors.Is(err, ErrRevoked) {
		t.Fatalf("waiting dispatch after revoke: %v", err)
	}
	if _, err := h.Dispatch(t.Context(), "a", work("w2")); !errors.Is(err, ErrRevoked) {
		t.Fatalf("dispatch to a revoked agent: %v", err)
	}

	go func() { _, err := h.Dispatch(t.Context(), "b", work("w1")); errc <- err }()
	waitUntil(t, func() bool { return h.Queued("b") == 1 })
	// The same id twice for one agent is a caller bug.
	if _, err := h.Dispatch(t.Context(), "b", work("w1")); err == nil {
		t.Error("second dispatch of the same id accepted")
	}
	h.Close()
	if err := <-errc; !errors.Is(err, errHubClosed) {
		t.Fatalf("waiting dispatch after close: %v", err)
	}
	if _, err := h.Dispatch(t.Context(), "b", work("w3")); !errors.Is(err, errHubClosed) {
		t.Fatalf("dispatch after close: %v", err)
	}
}
