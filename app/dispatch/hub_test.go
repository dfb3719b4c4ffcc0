package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/internal/testkit"
)

func work(id string) ops.Work { return ops.Work{ID: id, Type: "host.facts.refresh"} }

func pollAsync(h *Hub, ctx context.Context, id string, wait time.Duration) chan []ops.Work {
	ch := make(chan []ops.Work, 1)
	go func() {
		w, _ := h.Poll(ctx, id, wait)
		ch <- w
	}()
	return ch
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timeout")
		}
	}
}

func TestHubDeliveryRedeliveryAndCleanup(t *testing.T) {
	clk := testkit.NewClock(time.Unix(1000, 0))
	var got []ops.Result
	h := NewHub(HubConfig{Clock: clk.Now, RedeliverAfter: time.Minute,
		OnResult: func(_ string, r ops.Result) { got = append(got, r) }})
	ctx := context.Background()

	// Queued before the poll: returned at once; duplicates ignored.
	_ = h.Enqueue("a", work("1"))
	_ = h.Enqueue("a", work("1"))
	if w, err := h.Poll(ctx, "a", time.Second); err != nil || len(w) != 1 {
		t.Fatalf("poll = %v %v", w, err)
	}
	_ = h.Enqueue("a", work("1")) // in flight: still ignored
	if w, _ := h.Poll(ctx, "a", 0); len(w) != 0 {
		t.Fatalf("in-flight item redelivered early: %v", w)
	}
	// Not answered within RedeliverAfter: the next poll carries it again.
	clk.Advance(time.Minute)
	if w, _ := h.Poll(ctx, "a", 0); len(w) != 1 || w[0].ID != "1" {
		t.Fatalf("redelivery = %v", w)
	}
	// Results: only for delivered ids, and only from that agent.
	if n := h.Results("b", []ops.Result{{ID: "1", OK: true}}); n != 0 {
		t.Error("another agent answered for a's work")
	}
	if n := h.Results("a", []ops.Result{{ID: "1", OK: true}, {ID: "9"}}); n != 1 || len(got) != 1 {
		t.Errorf("results accepted %d, seen %v", n, got)
	}
	h.mu.Lock()
	if len(h.boxes) != 0 {
		t.Errorf("state left behind: %v", h.boxes)
	}
	h.mu.Unlock()

	// Cancel removes queued work.
	_ = h.Enqueue("a", work("2"))
	if !h.Cancel("a", "2") || h.Cancel("a", "2") {
		t.Error("cancel")
	}
	if w, _ := h.Poll(ctx, "a", 0); len(w) != 0 {
		t.Errorf("cancelled work delivered: %v", w)
	}
}

func TestHubWakesSupersedesRevokesCloses(t *testing.T) {
	h := NewHub(HubConfig{})
	ctx := context.Background()

	first := pollAsync(h, ctx, "a", 10*time.Second)
	waitUntil(t, func() bool { return h.Waiting("a") })
	// A newer poll of the same agent takes over; the old one ends empty.
	second := pollAsync(h, ctx, "a", 10*time.Second)
	if w := <-first; len(w) != 0 {
		t.Errorf("superseded poll got %v", w)
	}
	waitUntil(t, func() bool { return h.Waiting("a") })
	_ = h.Enqueue("a", work("1"))
	if w := <-second; len(w) != 1 {
		t.Errorf("woken poll got %v", w)
	}

	// Revoke ends an open poll with ErrRevoked and refuses new work.
	errc := make(chan error, 1)
	go func() { _, err := h.Poll(ctx, "r", 10*time.Second); errc <- err }()
	waitUntil(t, func() bool { return h.Waiting("r") })
	h.Revoke("r")
	if err := <-errc; !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked poll: %v", err)
	}
	if err := h.Enqueue("r", work("x")); !errors.Is(err, ErrRevoked) {
		t.Errorf("enqueue to revoked: %v", err)
	}

	// A client that goes away takes nothing.
	cctx, cancel := context.WithCancel(ctx)
	gone := pollAsync(h, cctx, "c", 10*time.Second)
	waitUntil(t, func() bool { return h.Waiting("c") })
	cancel()
	if w := <-gone; len(w) != 0 {
		t.Errorf("cancelled poll got %v", w)
	}

	// Close ends every poll.
	last := pollAsync(h, ctx, "d", 10*time.Second)
	waitUntil(t, func() bool { return h.Waiting("d") })
	h.Close()
	select {
	case <-last:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the poll")
	}
}
