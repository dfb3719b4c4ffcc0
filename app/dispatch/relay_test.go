package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// twoServers is two server processes (server-a, server-b) with their own
// hubs and relays on one real database (PostgreSQL when
// NEXPLANE_TEST_POSTGRES_URL is set). Agents are played on the hubs
// directly: the HTTP side is app/agentapi's, and cmd/nexplane runs the
// whole path with real agent processes.
type twoServers struct {
	t            testing.TB
	db           *store.DB
	hubA, hubB   *dispatch.Hub
	relayA       *dispatch.Relay
	ctx          context.Context
	agentsSoFar  int
	hubsByServer map[string]*dispatch.Hub
}

func newTwoServers(tb testing.TB, every time.Duration) *twoServers {
	ts := &twoServers{t: tb, db: storetest.MustOpenStore(tb), hubA: dispatch.NewHub(dispatch.HubConfig{}),
		hubB: dispatch.NewHub(dispatch.HubConfig{})}
	tb.Cleanup(ts.hubA.Close)
	tb.Cleanup(ts.hubB.Close)
	ts.hubsByServer = map[string]*dispatch.Hub{"server-a": ts.hubA, "server-b": ts.hubB}
	ctx, cancel := context.WithCancel(tb.Context())
	tb.Cleanup(cancel)
	ts.ctx = ctx
	relay := func(hub *dispatch.Hub, id string) *dispatch.Relay {
		r := dispatch.NewRelay(dispatch.RelayConfig{Hub: hub, Store: ts.db, ServerID: id, Every: every})
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		tb.Cleanup(func() { cancel(); <-done })
		return r
	}
	ts.relayA = relay(ts.hubA, "server-a")
	relay(ts.hubB, "server-b")
	return ts
}

// agent records a new enrolled agent that has polled no server yet.
func (ts *twoServers) agent() string {
	ts.t.Helper()
	ts.agentsSoFar++
	now := time.Now()
	a := &app.Agent{ID: fmt.Sprintf("%016x", ts.agentsSoFar), Hostname: fmt.Sprint("host-", ts.agentsSoFar),
		CertSerial: fmt.Sprintf("%04x", ts.agentsSoFar), CertNotAfter: now.Add(24 * time.Hour), EnrolledAt: now}
	if err := ts.db.WithTx(ts.ctx, func(tx app.Tx) error { return tx.CreateAgent(ts.ctx, a) }); err != nil {
		ts.t.Fatal(err)
	}
	return a.ID
}

// pollLoop plays an agent polling server: it records the server as the
// agent listener does, then polls its hub and answers every item with
// "ran <id>", counting them, until ctx ends.
func (ts *twoServers) pollLoop(ctx context.Context, server, agentID string, ran *atomic.Int64) {
	if err := ts.db.WithTx(ctx, func(tx app.Tx) error { return tx.SetAgentServer(ctx, agentID, server) }); err != nil {
		if ctx.Err() == nil {
			ts.t.Errorf("record the agent's server: %v", err)
		}
		return
	}
	hub := ts.hubsByServer[server]
	for ctx.Err() == nil {
		work, err := hub.Poll(ctx, agentID, time.Second)
		if err != nil {
			ts.t.Errorf("poll: %v", err)
			return
		}
		var rs []ops.Result
		for _, w := range work {
			ran.Add(1)
			rs = append(rs, ops.Result{ID: w.ID, OK: true, Summary: "ran " + w.ID})
		}
		if len(rs) > 0 {
			hub.Results(agentID, rs)
		}
	}
}

func facts(id string) ops.Work {
	return ops.Work{ID: id, Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)}
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// BenchmarkRelayDispatch measures one host operation executed on server A
// for an agent polling server B, from Dispatch to the agent's answer, with
// the production poll interval (DefaultRelayEvery) on both sides.
func BenchmarkRelayDispatch(b *testing.B) {
	ts := newTwoServers(b, dispatch.DefaultRelayEvery)
	id := ts.agent()
	var ran atomic.Int64
	go ts.pollLoop(ts.ctx, "server-b", id, &ran)
	waitUntil(b, "the agent's poll on B", func() bool { return ts.hubB.Waiting(id) })
	i := 0
	for b.Loop() {
		i++
		wid := fmt.Sprint("b", i)
		if res, err := ts.relayA.Dispatch(ts.ctx, id, facts(wid)); err != nil || !res.OK {
			b.Fatalf("dispatch %s: %+v %v", wid, res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

// TestRelayAcrossServers: two server processes share one database; the
// agent polls B, a host operation executes on A and reaches it through the
// relay; when the agent stays away the work is withdrawn on both; when it
// moves to A the work goes straight to A's hub.
func TestRelayAcrossServers(t *testing.T) {
	ts := newTwoServers(t, 20*time.Millisecond)
	db, hubA, hubB, relayA, ctx := ts.db, ts.hubA, ts.hubB, ts.relayA, ts.ctx
	id := ts.agent()

	var ran atomic.Int64
	agentCtx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan struct{})
	go func() { ts.pollLoop(agentCtx, "server-b", id, &ran); close(agentDone) }()
	waitUntil(t, "the agent's poll on B", func() bool { return hubB.Waiting(id) })

	// Executed on A, run by the agent polling B.
	res, err := relayA.Dispatch(ctx, id, facts("w1"))
	if err != nil || !res.OK || res.ID != "w1" || res.Summary != "ran w1" {
		t.Fatalf("relayed dispatch = %+v, %v", res, err)
	}
	if _, err := db.RelayedWorkByID(ctx, "w1"); app.ErrCode(err) != app.ENOTFOUND {
		t.Errorf("w1 left in the relay table: %v", err)
	}
	if hubA.Queued(id) != 0 || hubB.Queued(id) != 0 {
		t.Error("items left in a hub")
	}

	// The agent stops polling: the dispatcher's deadline withdraws the item
	// everywhere and says the agent may have it.
	stopAgent()
	<-agentDone
	wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer wcancel()
	_, err = relayA.Dispatch(wctx, id, facts("w2"))
	var de *dispatch.DispatchError
	if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) || de.WorkID != "w2" {
		t.Fatalf("dispatch to an absent agent = %v", err)
	}
	waitUntil(t, "w2 to leave B's hub and the relay table", func() bool {
		_, err := db.RelayedWorkByID(ctx, "w2")
		return hubB.Queued(id) == 0 && app.ErrCode(err) == app.ENOTFOUND
	})

	// Many at once, while the agent polls B again.
	agentCtx, stopAgent = context.WithCancel(ctx)
	agentDone = make(chan struct{})
	go func() { ts.pollLoop(agentCtx, "server-b", id, &ran); close(agentDone) }()
	before := ran.Load()
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			wid := fmt.Sprint("m", i)
			res, err := relayA.Dispatch(ctx, id, facts(wid))
			if err == nil && res.Summary != "ran "+wid {
				err = fmt.Errorf("%s answered with %+v", wid, res)
			}
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := ran.Load() - before; n != 20 {
		t.Errorf("the agent ran %d items, want 20", n)
	}
	// A resumed operation finds the item of its dead first dispatcher (same
	// work id): a finished one answers at once, a queued one is adopted.
	now := time.Now()
	left := func(wid string, state app.RelayState, result string) {
		t.Helper()
		err := db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreateRelayedWork(ctx, &app.RelayedWork{WorkID: wid, AgentID: id, Server: "server-b", State: state,
				Work:   json.RawMessage(`{"id":"` + wid + `","type":"host.facts.refresh","params":{}}`),
				Result: json.RawMessage(result), CreatedAt: now, UpdatedAt: now})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	left("r1", app.RelayDone, `{"id":"r1","ok":true,"summary":"ran r1 before the crash"}`)
	left("r2", app.RelayQueued, "")
	before = ran.Load()
	for wid, want := range map[string]string{"r1": "ran r1 before the crash", "r2": "ran r2"} {
		res, err := relayA.Dispatch(ctx, id, facts(wid))
		if err != nil || res.Summary != want {
			t.Errorf("resumed %s = %+v, %v; want %q", wid, res, err, want)
		}
		if _, err := db.RelayedWorkByID(ctx, wid); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("%s left in the relay table: %v", wid, err)
		}
	}
	if n := ran.Load() - before; n != 1 {
		t.Errorf("the agent ran %d items for the two resumes, want 1 (r2)", n)
	}

	// A server without an agent listener (no hub) relays too.
	apiOnly := dispatch.NewRelay(dispatch.RelayConfig{Store: db, ServerID: "server-api", Every: 20 * time.Millisecond})
	if res, err := apiOnly.Dispatch(ctx, id, facts("w4")); err != nil || res.Summary != "ran w4" {
		t.Errorf("dispatch from a server without a listener = %+v, %v", res, err)
	}
	fresh := ts.agent() // never polled anywhere
	if _, err := apiOnly.Dispatch(ctx, fresh, facts("w5")); err == nil ||
		!strings.Contains(err.Error(), "has not polled any server yet") {
		t.Errorf("dispatch without a listener to an agent that never polled = %v", err)
	}
	stopAgent()
	<-agentDone

	// The agent moves to A: A's own hub takes the work, the table stays empty.
	agentCtx, stopAgent = context.WithCancel(ctx)
	defer stopAgent()
	go ts.pollLoop(agentCtx, "server-a", id, &ran)
	waitUntil(t, "the agent's poll on A", func() bool { return hubA.Waiting(id) })
	res, err = relayA.Dispatch(ctx, id, facts("w3"))
	if err != nil || res.Summary != "ran w3" {
		t.Fatalf("local dispatch = %+v, %v", res, err)
	}
	if items, err := db.RelayedWorkFor(ctx, "server-b"); err != nil || len(items) != 0 {
		t.Errorf("relay table for B = %+v, %v", items, err)
	}
}
