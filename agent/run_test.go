package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/pki"
)

func work(t *testing.T, id string, op ops.Op) ops.Work {
	t.Helper()
	w, err := ops.NewWork(id, op)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startRun runs the agent in the background and returns a stop function
// that waits for Run to return.
func startRun(t *testing.T, o RunOptions) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop")
		}
	}
}

// dispatchAll hands every item to the agent through the hub at once and
// returns the results by work id, as the callers of Dispatch got them.
func dispatchAll(t *testing.T, srv *testServer, agentID string, items ...ops.Work) map[string]ops.Result {
	t.Helper()
	var mu sync.Mutex
	byID := map[string]ops.Result{}
	var wg sync.WaitGroup
	for _, w := range items {
		wg.Go(func() {
			r, err := srv.dispatch(agentID, w)
			if err != nil {
				t.Errorf("dispatch %s: %v", w.ID, err)
				return
			}
			mu.Lock()
			byID[w.ID] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	return byID
}

func TestRunExecutesOnceAndReports(t *testing.T) {
	root := newTestRoot(t)
	srv := newTestServer(t, serverOptions{redeliverAfter: 2 * time.Second})
	dir := t.TempDir()
	agentID := srv.enroll(t, dir).AgentID
	conf := filepath.Join(t.TempDir(), "agent.conf")
	os.WriteFile(conf, []byte("# this host\nallow = host.ssh_key.add, host.facts.refresh\n"), 0o644)
	var logs bytes.Buffer
	o := RunOptions{
		StateDir: dir, Root: root, ConfigPath: conf, ConfigRequired: true, AgentVersion: "t1",
		PollWait: time.Second, HeartbeatInterval: 200 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)),
	}
	w1 := work(t, "w1", ops.SSHKeyAdd{User: "alice", PublicKey: testEd25519})
	stop := startRun(t, o)
	byID := dispatchAll(t, srv, agentID,
		w1,
		work(t, "w2", ops.UserLock{Name: "alice"}), // not allowed here
		ops.Work{ID: "w3", Type: "host.reboot", Params: json.RawMessage(`{}`)},
		ops.Work{ID: "w4", Type: ops.TypeSSHKeyAdd, Params: json.RawMessage(`{"user":"alice","public_key":"x","sudo":true}`)},
		work(t, "w5", ops.FactsRefresh{}),
	)
	if r := byID["w1"]; !r.OK || r.Duplicate || r.ID != "w1" {
		t.Errorf("w1 = %+v", r)
	}
	for id, want := range map[string]string{"w2": "not allowed by this host's policy", "w3": "unknown operation type", "w4": "unknown field"} {
		if r := byID[id]; r.OK || !strings.HasPrefix(r.Error, "refused: ") || !strings.Contains(r.Error, want) {
			t.Errorf("%s = %+v, want refused with %q", id, r, want)
		}
	}
	if r := byID["w5"]; !r.OK {
		t.Errorf("w5 = %+v", r)
	}
	if shadowPassword(t, root, "alice") != "$6$salt$hash" {
		t.Error("refused lock changed shadow")
	}
	if n := srv.hub.Queued(agentID); n != 0 {
		t.Errorf("%d items left in the hub", n)
	}

	// Heartbeats: the server has this host's facts and inventory.
	var facts ops.Facts
	var users []ops.HostUser
	waitFor(t, "heartbeat", 5*time.Second, func() bool {
		row := srv.agent(t, agentID)
		return row.Version == "t1" && json.Unmarshal(row.Facts, &facts) == nil && json.Unmarshal(row.Users, &users) == nil
	})
	if row := srv.agent(t, agentID); facts.AgentVersion != "t1" || facts.OS != "Test Linux 1.0" || len(users) != 4 ||
		row.Status(time.Now()) != app.AgentOnline {
		t.Errorf("heartbeat facts %+v, %d users, status %s", facts, len(users), row.Status(time.Now()))
	}

	// Redelivery after a restart. The agent is stopped; w1 is handed out
	// again and taken by a poll made with the agent's own certificate whose
	// answer is never acted on (the agent died after the response came).
	// The hub redelivers it after RedeliverAfter; the agent answers from
	// memory, as a duplicate, and does not run it again.
	stop()
	// The stopped agent's last poll may still be in the server's handler
	// (its client gone, not yet noticed); it would take w1 itself.
	waitFor(t, "the stopped agent's requests to end", 5*time.Second, func() bool { return srv.active.Load() == 0 })
	akPath := filepath.Join(root, "home/alice/.ssh/authorized_keys")
	os.WriteFile(akPath, nil, 0o600) // if w1 ran again, the key would come back
	redelivered := make(chan ops.Result, 1)
	go func() {
		r, err := srv.dispatch(agentID, w1)
		if err != nil {
			t.Errorf("dispatch of redelivered w1: %v", err)
		}
		redelivered <- r
	}()
	waitFor(t, "w1 queued again", 5*time.Second, func() bool { return srv.hub.Queued(agentID) == 1 })
	lost := pollAsAgent(t, dir)
	if len(lost) != 1 || lost[0].ID != "w1" {
		t.Fatalf("lost poll carried %+v", lost)
	}
	restarted := time.Now()
	stop = startRun(t, o)
	defer stop()
	var d ops.Result
	select {
	case d = <-redelivered:
	case <-time.After(20 * time.Second):
		t.Fatal("no result for the redelivered item")
	}
	if d.ID != "w1" || !d.Duplicate || !d.OK || d.Summary != byID["w1"].Summary {
		t.Errorf("redelivered w1 = %+v", d)
	}
	if took := time.Since(restarted); took < time.Second {
		t.Errorf("w1 came back after %v, before the hub's redelivery time", took)
	}
	if b, _ := os.ReadFile(akPath); len(b) != 0 {
		t.Error("redelivered work ran again")
	}
}

// pollAsAgent makes one poll with the enrolled agent's certificate (what
// the runtime's work loop sends) and returns the work it carried.
func pollAsAgent(t *testing.T, dir string) []ops.Work {
	t.Helper()
	st, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	holder := &certHolder{}
	cert := st.cert
	holder.Store(&cert)
	c := newClient(st.id.Server, mtlsConfig(st.ca, serverName(st.id.Server), holder))
	defer c.closeIdle()
	var resp ops.PollResponse
	if err := c.do(context.Background(), http.MethodGet, ops.PathWork+"?wait=0", nil, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Work
}

// TestRunRenewsWithoutGap: agent certificates live 6 s. The agent renews
// before each expires, the server sees the new certificate in use, and work
// is still delivered and answered after the first certificate expired.
func TestRunRenewsWithoutGap(t *testing.T) {
	srv := newTestServer(t, serverOptions{certLife: 6 * time.Second})
	dir := t.TempDir()
	agentID := srv.enroll(t, dir).AgentID
	first, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	firstLeaf := first.cert.Leaf
	firstSerial := pki.SerialString(firstLeaf.SerialNumber)
	before, _ := os.ReadFile(filepath.Join(dir, certFile))
	// The CA back-dates NotBefore (clock skew), so a 6 s certificate's
	// lifetime is minutes long on paper: pick the fraction that renews
	// with 3 s left.
	life := firstLeaf.NotAfter.Sub(firstLeaf.NotBefore)
	stop := startRun(t, RunOptions{
		StateDir: dir, Root: passwdRoot(t), ConfigPath: filepath.Join(t.TempDir(), "none.conf"),
		PollWait: time.Second, HeartbeatInterval: 100 * time.Millisecond,
		RenewFraction: float64(3*time.Second) / float64(life), RenewCheckInterval: 50 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	})
	defer stop()
	waitFor(t, "renewal", 6*time.Second, func() bool { return srv.agent(t, agentID).CertSerial != firstSerial })
	// The agent stores the new pair after the server answered. Read the
	// file only (loadState would finish what looks like an interrupted
	// renewal, racing the agent's own commit).
	var stored *x509.Certificate
	waitFor(t, "renewed cert.pem", 5*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, certFile))
		if err != nil || bytes.Equal(b, before) {
			return false
		}
		stored, err = parseCertPEM(b)
		return err == nil
	})
	if !stored.NotAfter.After(firstLeaf.NotAfter) || stored.Subject.CommonName != pki.AgentCNPrefix+agentID {
		t.Errorf("stored cert %s expires %v, the first one %v", stored.Subject, stored.NotAfter, firstLeaf.NotAfter)
	}
	// Let the first certificate expire: the agent keeps working. This sleep
	// is the one wait on the wall clock itself: TLS on both ends checks
	// certificate validity against the real time, so nothing else makes
	// the certificate expire.
	time.Sleep(time.Until(firstLeaf.NotAfter) + 500*time.Millisecond)
	r, err := srv.dispatch(agentID, ops.Work{ID: "x", Type: ops.TypeFactsRefresh})
	if err != nil || !r.OK {
		t.Fatalf("work after expiry of the first certificate: %+v %v", r, err)
	}
	a := srv.agent(t, agentID)
	if a.CertNotAfter.Before(time.Now()) {
		t.Errorf("server's record of the current certificate expired at %v", a.CertNotAfter)
	}
	// The server retires the replaced certificate once the agent presents a
	// renewed one. KNOWN BUG, found with the real listener: it speaks
	// HTTP/2, the agent's polls and heartbeats share one connection that is
	// never idle, so renew's CloseIdleConnections does not close it and
	// every request keeps presenting the first certificate, even after it
	// expired (the server checks expiry only at the handshake). Kept as a
	// skip so that the fix turns it into a passing check.
	if a.PrevCertSerial != firstSerial {
		return // the first certificate was retired: a renewed one was presented
	}
	t.Errorf("the running agent renewed (current serial %s) but still presents its first certificate %s, "+
		"expired since %v", a.CertSerial, firstSerial, time.Since(firstLeaf.NotAfter).Round(time.Millisecond))
}

// TestRunRevoked: once an operator revokes the agent, its open poll ends
// and every request is refused; the run loop keeps retrying with backoff and
// logs the refusal as an error, and status reports it.
func TestRunRevoked(t *testing.T) {
	srv := newTestServer(t, serverOptions{})
	dir := t.TempDir()
	agentID := srv.enroll(t, dir).AgentID
	var logs bytes.Buffer
	lw := &syncWriter{w: &logs}
	root := passwdRoot(t)
	stop := startRun(t, RunOptions{
		StateDir: dir, Root: root, ConfigPath: filepath.Join(t.TempDir(), "none.conf"),
		PollWait: 10 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lw, nil)),
	})
	defer stop()
	// Working before: a dispatch is answered.
	if r, err := srv.dispatch(agentID, ops.Work{ID: "before", Type: ops.TypeFactsRefresh}); err != nil || !r.OK {
		t.Fatalf("dispatch before revocation: %+v %v", r, err)
	}
	waitFor(t, "open poll", 5*time.Second, func() bool { return srv.hub.Waiting(agentID) })
	revoked := time.Now()
	srv.revoke(t, agentID)
	refusal := "level=ERROR msg=\"channel error; retrying\""
	// The open 10 s poll ends at once with the refusal.
	waitFor(t, "poll refused", 3*time.Second, func() bool { return strings.Contains(lw.String(), refusal) })
	if d := time.Since(revoked); d > 5*time.Second {
		t.Errorf("refusal took %v", d)
	}
	// It keeps retrying, backing off, and every retry is refused.
	waitFor(t, "retries", 10*time.Second, func() bool { return strings.Count(lw.String(), refusal) >= 4 })
	for _, line := range strings.Split(lw.String(), "\n") {
		if strings.Contains(line, refusal) && (!strings.Contains(line, "403") || !strings.Contains(line, "revoked") || !strings.Contains(line, "retry_in=")) {
			t.Errorf("refusal line %q", line)
		}
	}
	if !strings.Contains(lw.String(), "heartbeat failed") {
		t.Error("refused heartbeats not logged")
	}
	if _, err := srv.dispatch(agentID, ops.Work{ID: "after", Type: ops.TypeFactsRefresh}); !errors.Is(err, dispatch.ErrRevoked) {
		t.Errorf("dispatch to a revoked agent: %v", err)
	}
	rep, err := Status(context.Background(), StatusOptions{StateDir: dir, Root: root, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var se *StatusError
	if !errors.As(rep.Connectivity, &se) || se.Code != http.StatusForbidden || !strings.Contains(se.Message, "revoked") {
		t.Errorf("status of a revoked agent: %v", rep.Connectivity)
	}
}

func TestRenewDue(t *testing.T) {
	nb := time.Unix(0, 0)
	na := nb.Add(300 * time.Hour)
	if renewDue(nb, na, nb.Add(199*time.Hour), 1.0/3) || !renewDue(nb, na, nb.Add(201*time.Hour), 1.0/3) {
		t.Error("renewDue threshold wrong")
	}
}

func TestRunNotEnrolled(t *testing.T) {
	err := Run(context.Background(), RunOptions{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not enrolled") {
		t.Errorf("Run = %v", err)
	}
}

// syncWriter lets the runtime's goroutines log into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
