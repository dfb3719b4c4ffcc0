package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// RunOptions configure Run. Zero values take the production defaults; tests
// shorten the intervals.
type RunOptions struct {
	StateDir string // default DefaultStateDir
	Server   string // overrides the server stored at enrollment
	// ConfigPath is the local policy file; default DefaultConfigPath, where a
	// missing file means no narrowing. ConfigRequired makes a missing file
	// an error (set when --config was given explicitly).
	ConfigPath     string
	ConfigRequired bool
	Root           string // system root for operations; default "/"
	AgentVersion   string

	PollWait          time.Duration // default ops.MaxPollWaitSeconds
	HeartbeatInterval time.Duration // default ops.HeartbeatSeconds
	// RenewFraction: renew when less than this part of the certificate's
	// lifetime remains; default 1/3.
	RenewFraction float64
	// RenewCheckInterval: how often to look at the expiry; default one
	// minute, never more than a tenth of the certificate lifetime.
	RenewCheckInterval time.Duration
	BackoffMin         time.Duration // default 1 s
	BackoffMax         time.Duration // default 30 s
	FinishedLimit      int           // default DefaultFinishedLimit
	Tools              map[string]string
	Logger             *slog.Logger
}

func (o *RunOptions) defaults() {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.ConfigPath == "" {
		o.ConfigPath = DefaultConfigPath
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if o.PollWait <= 0 {
		o.PollWait = ops.MaxPollWaitSeconds * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = ops.HeartbeatSeconds * time.Second
	}
	if o.RenewFraction <= 0 || o.RenewFraction >= 1 {
		o.RenewFraction = 1.0 / 3
	}
	if o.RenewCheckInterval <= 0 {
		o.RenewCheckInterval = time.Minute
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AgentVersion == "" {
		o.AgentVersion = "dev"
	}
}

// runner is one Run: the channel, the executor and the memory.
type runner struct {
	o        RunOptions
	log      *slog.Logger
	st       *state
	certs    *certHolder
	c        *client
	exec     *Executor
	finished *finishedStore
	refresh  chan struct{} // facts.refresh asks for a heartbeat now

	mu      sync.Mutex
	pending []ops.Result // results not yet accepted by the server
}

// Run connects to the control plane and serves it until ctx ends: it
// long-polls for work, executes it, posts results, sends heartbeats and
// renews its certificate. Network and server errors are retried with
// backoff forever; Run returns an error only when it cannot start (not
// enrolled, unreadable state, bad policy), and nil when ctx ends.
func Run(ctx context.Context, o RunOptions) error {
	o.defaults()
	r, err := newRunner(o)
	if err != nil {
		return err
	}
	defer r.c.closeIdle()
	r.log.Info("agent running", "agent_id", r.st.id.AgentID, "server", r.c.base,
		"root", o.Root, "allowed", r.exec.Policy.Allowed(),
		"allowed_privileged_groups", r.exec.Policy.AllowedPrivilegedGroups(), "cert_not_after", r.st.cert.Leaf.NotAfter)

	var wg sync.WaitGroup
	wg.Go(func() { r.heartbeatLoop(ctx) })
	wg.Go(func() { r.renewLoop(ctx) })
	r.workLoop(ctx)
	wg.Wait()
	r.log.Info("agent stopped")
	return nil
}

func newRunner(o RunOptions) (*runner, error) {
	st, err := loadState(o.StateDir)
	if err != nil {
		return nil, err
	}
	server := st.id.Server
	if o.Server != "" {
		if server, err = NormalizeServer(o.Server); err != nil {
			return nil, err
		}
	}
	pol, err := LoadPolicy(o.ConfigPath, o.ConfigRequired)
	if err != nil {
		return nil, err
	}
	fin, err := openFinished(o.StateDir, o.FinishedLimit)
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, log: o.Logger, st: st, certs: &certHolder{}, finished: fin, refresh: make(chan struct{}, 1)}
	cert := st.cert
	r.certs.Store(&cert)
	r.c = newClient(server, mtlsConfig(st.ca, serverName(server), r.certs))
	r.exec = &Executor{Root: o.Root, Tools: o.Tools, Policy: pol, AgentVersion: o.AgentVersion,
		OnFactsRefresh: func() {
			select {
			case r.refresh <- struct{}{}:
			default:
			}
		}}
	return r, nil
}

// workLoop polls, executes and reports until ctx ends.
func (r *runner) workLoop(ctx context.Context) {
	b := backoff{min: r.o.BackoffMin, max: r.o.BackoffMax}
	for ctx.Err() == nil {
		// Results left over from a failed post go first, so the server
		// hears about finished work before it is handed more.
		err := r.flushResults(ctx)
		if err == nil {
			err = r.pollOnce(ctx)
		}
		if err == nil {
			b.reset()
			continue
		}
		r.pollFailed(ctx, err, &b)
	}
}

func (r *runner) pollFailed(ctx context.Context, err error, b *backoff) {
	if ctx.Err() != nil {
		return
	}
	d := b.next()
	level := slog.LevelWarn
	if isStatus(err, http.StatusUnauthorized) || isStatus(err, http.StatusForbidden) {
		level = slog.LevelError // revoked or expired: keeps retrying, loudly
	}
	r.log.Log(ctx, level, "channel error; retrying", "err", err, "retry_in", d.Round(time.Millisecond))
	sleep(ctx, d)
}

// pollOnce asks for work, runs each item and posts the results.
func (r *runner) pollOnce(ctx context.Context) error {
	wait := int(r.o.PollWait / time.Second)
	pctx, cancel := context.WithTimeout(ctx, r.o.PollWait+15*time.Second)
	defer cancel()
	var resp ops.PollResponse
	if err := r.c.do(pctx, http.MethodGet, ops.PathWork+"?wait="+strconv.Itoa(wait), nil, &resp); err != nil {
		return err
	}
	for _, w := range resp.Work {
		res := r.handle(ctx, w)
		r.mu.Lock()
		r.pending = append(r.pending, res)
		r.mu.Unlock()
		// Report each result at once: the server is waiting on it.
		if err := r.flushResults(ctx); err != nil {
			return err
		}
	}
	return nil
}

// handle runs one work item at most once across restarts.
func (r *runner) handle(ctx context.Context, w ops.Work) ops.Result {
	if w.ID == "" {
		// Without an id there is no redelivery safety and no one to tell.
		r.log.Warn("work item without id ignored", "type", w.Type)
		return ops.Result{Error: "refused: work item has no id"}
	}
	if res, ok := r.finished.Lookup(w.ID); ok {
		r.log.Info("redelivered work reported again, not run", "id", w.ID, "type", w.Type)
		return res
	}
	if err := r.finished.Begin(w.ID); err != nil {
		// If the agent cannot remember, it must not run.
		r.log.Error("cannot record work; not running it", "id", w.ID, "err", err)
		return ops.Result{ID: w.ID, Error: "agent could not record the work item; not run: " + err.Error()}
	}
	start := time.Now()
	// An operation in flight finishes even when the agent is stopping: a
	// half-run useradd helps no one. The tool timeout still bounds it.
	res := r.exec.Execute(context.WithoutCancel(ctx), w)
	res.ID = w.ID
	if err := r.finished.Finish(res); err != nil {
		r.log.Error("cannot record result", "id", w.ID, "err", err)
	}
	r.log.Info("work done", "id", w.ID, "type", w.Type, "ok", res.OK, "summary", res.Summary, "error", res.Error,
		"took", time.Since(start).Round(time.Millisecond))
	return res
}

// flushResults posts pending results; they stay pending on failure.
func (r *runner) flushResults(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.c.do(pctx, http.MethodPost, ops.PathResults, batch, nil); err != nil {
		return fmt.Errorf("post results: %w", err)
	}
	r.mu.Lock()
	r.pending = r.pending[len(batch):]
	r.mu.Unlock()
	return nil
}

// heartbeatLoop reports facts and inventory every interval, and at once
// after host.facts.refresh.
func (r *runner) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(r.o.HeartbeatInterval)
	defer t.Stop()
	for {
		if err := r.heartbeat(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.refresh:
		}
	}
}

func (r *runner) heartbeat(ctx context.Context) error {
	hb, err := CollectHeartbeat(r.o.Root, r.o.AgentVersion)
	if err != nil {
		return err
	}
	r.exec.Policy.report(&hb.Facts)
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = r.c.do(hctx, http.MethodPost, ops.PathHeartbeat, hb, nil)
	return err
}

// CollectHeartbeat gathers facts and inventory under root.
func CollectHeartbeat(root, agentVersion string) (ops.Heartbeat, error) {
	users, err := CollectUsers(root)
	if err != nil {
		return ops.Heartbeat{}, fmt.Errorf("inventory: %w", err)
	}
	return ops.Heartbeat{Facts: CollectFacts(root, agentVersion), Users: users}, nil
}
