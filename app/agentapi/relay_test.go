package agentapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/agentapi"
)

// pollLoop is an agent's work loop against one listener, over its mTLS
// client: it polls, answers every item with "ran <id>" and counts them.
// It stops when ctx ends.
func (a *agent) pollLoop(ctx context.Context, baseURL string, ran *atomic.Int64) {
	for ctx.Err() == nil {
		status, body, err := doWith(a.e.t, a.client, http.MethodGet, baseURL+ops.PathWork+"?wait=1", nil)
		if err != nil || status != http.StatusOK {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var pr ops.PollResponse
		if err := json.Unmarshal(body, &pr); err != nil {
			a.e.t.Errorf("poll answer %s: %v", body, err)
			return
		}
		var rs []ops.Result
		for _, w := range pr.Work {
			ran.Add(1)
			rs = append(rs, ops.Result{ID: w.ID, OK: true, Summary: "ran " + w.ID})
		}
		if len(rs) > 0 {
			doWith(a.e.t, a.client, http.MethodPost, baseURL+ops.PathResults, rs)
		}
	}
}

// twoServers is two agent listeners (server-a, server-b) with their own
// hubs and relays on one database.
type twoServers struct {
	e      *env
	hubB   *agentapi.Hub
	srvB   *httptest.Server
	relayA *agentapi.Relay
	ctx    context.Context
}

func newTwoServers(tb testing.TB, every time.Duration) *twoServers {
	e := newEnv(tb, envOpts{serverID: "server-a"})
	hubB := agentapi.NewHub(agentapi.HubConfig{})
	tb.Cleanup(hubB.Close)
	srvB := e.listener(hubB, "server-b")
	ctx, cancel := context.WithCancel(tb.Context())
	tb.Cleanup(cancel)
	relay := func(hub *agentapi.Hub, id string) *agentapi.Relay {
		r := agentapi.NewRelay(agentapi.RelayConfig{Hub: hub, Store: e.db, ServerID: id, Every: every})
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		tb.Cleanup(func() { cancel(); <-done })
		return r
	}
	relayA := relay(e.hub, "server-a")
	relay(hubB, "server-b")
	return &twoServers{e: e, hubB: hubB, srvB: srvB, relayA: relayA, ctx: ctx}
}

// BenchmarkRelayDispatch measures one host operation executed on server A
// for an agent polling server B, from Dispatch to the agent's answer, with
// the production poll interval (DefaultRelayEvery) on both sides.
func BenchmarkRelayDispatch(b *testing.B) {
	ts := newTwoServers(b, agentapi.DefaultRelayEvery)
	ag := ts.e.enroll(0)
	var ran atomic.Int64
	go ag.pollLoop(ts.ctx, ts.srvB.URL, &ran)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if a, err := ts.e.db.AgentByID(ts.ctx, ag.id); err == nil && a.Server == "server-b" {
			break
		} else if time.Now().After(deadline) {
			b.Fatal("the agent's poll on B was never recorded")
		}
	}
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprint("b", i)
		if res, err := ts.relayA.Dispatch(ts.ctx, ag.id, ops.Work{ID: id, Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)}); err != nil || !res.OK {
			b.Fatalf("dispatch %s: %+v %v", id, res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRelayAcrossServers: two server processes share one database (on
// PostgreSQL when NEXPLANE_TEST_POSTGRES_URL is set); the agent polls B, a
// host operation executes on A and reaches it through the relay; when the
// agent stays away the work is withdrawn on both; when it moves to A the
// work goes straight to A's hub.
func TestRelayAcrossServers(t *testing.T) {
	ts := newTwoServers(t, 20*time.Millisecond)
	e, hubB, srvB, relayA, ctx := ts.e, ts.hubB, ts.srvB, ts.relayA, ts.ctx

	ag := e.enroll(0)
	serverOf := func() string {
		a, err := e.db.AgentByID(ctx, ag.id)
		if err != nil {
			t.Fatal(err)
		}
		return a.Server
	}
	var ran atomic.Int64
	agentCtx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan struct{})
	go func() { ag.pollLoop(agentCtx, srvB.URL, &ran); close(agentDone) }()
	waitUntil(t, "the agent's poll on B to be recorded", func() bool { return serverOf() == "server-b" })

	// Executed on A, run by the agent polling B.
	res, err := relayA.Dispatch(ctx, ag.id, ops.Work{ID: "w1", Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)})
	if err != nil || !res.OK || res.ID != "w1" || res.Summary != "ran w1" {
		t.Fatalf("relayed dispatch = %+v, %v", res, err)
	}
	if _, err := e.db.RelayedWorkByID(ctx, "w1"); app.ErrCode(err) != app.ENOTFOUND {
		t.Errorf("w1 left in the relay table: %v", err)
	}
	if e.hub.Queued(ag.id) != 0 || hubB.Queued(ag.id) != 0 {
		t.Error("items left in a hub")
	}

	// The agent stops polling: the dispatcher's deadline withdraws the item
	// everywhere and says the agent may have it.
	stopAgent()
	<-agentDone
	wctx, wcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer wcancel()
	_, err = relayA.Dispatch(wctx, ag.id, ops.Work{ID: "w2", Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)})
	var de *agentapi.DispatchError
	if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) || de.WorkID != "w2" {
		t.Fatalf("dispatch to an absent agent = %v", err)
	}
	waitUntil(t, "w2 to leave B's hub and the relay table", func() bool {
		_, err := e.db.RelayedWorkByID(ctx, "w2")
		return hubB.Queued(ag.id) == 0 && app.ErrCode(err) == app.ENOTFOUND
	})

	// Many at once, while the agent polls B again.
	agentCtx, stopAgent = context.WithCancel(ctx)
	agentDone = make(chan struct{})
	go func() { ag.pollLoop(agentCtx, srvB.URL, &ran); close(agentDone) }()
	before := ran.Load()
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			id := fmt.Sprint("m", i)
			res, err := relayA.Dispatch(ctx, ag.id, ops.Work{ID: id, Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)})
			if err == nil && res.Summary != "ran "+id {
				err = fmt.Errorf("%s answered with %+v", id, res)
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
	left := func(id string, state app.RelayState, result string) {
		t.Helper()
		err := e.db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreateRelayedWork(ctx, &app.RelayedWork{WorkID: id, AgentID: ag.id, Server: "server-b", State: state,
				Work:   json.RawMessage(`{"id":"` + id + `","type":"host.facts.refresh","params":{}}`),
				Result: json.RawMessage(result), CreatedAt: now, UpdatedAt: now})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	left("r1", app.RelayDone, `{"id":"r1","ok":true,"summary":"ran r1 before the crash"}`)
	left("r2", app.RelayQueued, "")
	before = ran.Load()
	for id, want := range map[string]string{"r1": "ran r1 before the crash", "r2": "ran r2"} {
		res, err := relayA.Dispatch(ctx, ag.id, ops.Work{ID: id, Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)})
		if err != nil || res.Summary != want {
			t.Errorf("resumed %s = %+v, %v; want %q", id, res, err, want)
		}
		if _, err := e.db.RelayedWorkByID(ctx, id); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("%s left in the relay table: %v", id, err)
		}
	}
	if n := ran.Load() - before; n != 1 {
		t.Errorf("the agent ran %d items for the two resumes, want 1 (r2)", n)
	}

	// A server without an agent listener (no hub) relays too.
	apiOnly := agentapi.NewRelay(agentapi.RelayConfig{Store: e.db, ServerID: "server-api", Every: 20 * time.Millisecond})
	if res, err := apiOnly.Dispatch(ctx, ag.id, ops.Work{ID: "w4", Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)}); err != nil || res.Summary != "ran w4" {
		t.Errorf("dispatch from a server without a listener = %+v, %v", res, err)
	}
	fresh := e.enroll(1) // never polled anywhere
	if _, err := apiOnly.Dispatch(ctx, fresh.id, ops.Work{ID: "w5", Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)}); err == nil ||
		!strings.Contains(err.Error(), "has not polled any server yet") {
		t.Errorf("dispatch without a listener to an agent that never polled = %v", err)
	}
	stopAgent()
	<-agentDone

	// The agent moves to A: A's own hub takes the work, the table stays empty.
	agentCtx, stopAgent = context.WithCancel(ctx)
	defer stopAgent()
	go ag.pollLoop(agentCtx, e.srv.URL, &ran)
	waitUntil(t, "the agent's poll on A to be recorded", func() bool { return serverOf() == "server-a" })
	res, err = relayA.Dispatch(ctx, ag.id, ops.Work{ID: "w3", Type: ops.TypeFactsRefresh, Params: json.RawMessage(`{}`)})
	if err != nil || res.Summary != "ran w3" {
		t.Fatalf("local dispatch = %+v, %v", res, err)
	}
	if items, err := e.db.RelayedWorkFor(ctx, "server-b"); err != nil || len(items) != 0 {
		t.Errorf("relay table for B = %+v, %v", items, err)
	}
}
