package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
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

func TestRunExecutesOnceAndReports(t *testing.T) {
	root := newTestRoot(t)
	fs := newFakeServer(t, true)
	dir := t.TempDir()
	if _, err := Enroll(context.Background(), enrollOpts(fs, dir)); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "agent.conf")
	os.WriteFile(conf, []byte("# this host\nallow = host.ssh_key.add, host.facts.refresh\n"), 0o644)
	var logs bytes.Buffer
	o := RunOptions{
		StateDir: dir, Root: root, ConfigPath: conf, ConfigRequired: true, AgentVersion: "t1",
		PollWait: time.Second, HeartbeatInterval: 200 * time.Millisecond, BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)),
	}
	fs.push(
		work(t, "w1", ops.SSHKeyAdd{User: "alice", PublicKey: testEd25519}),
		work(t, "w2", ops.UserLock{Name: "alice"}), // not allowed here
		ops.Work{ID: "w3", Type: "host.reboot", Params: json.RawMessage(`{}`)},
		ops.Work{ID: "w4", Type: ops.TypeSSHKeyAdd, Params: json.RawMessage(`{"user":"alice","public_key":"x","sudo":true}`)},
		work(t, "w5", ops.FactsRefresh{}),
	)
	stop := startRun(t, o)
	waitFor(t, "5 results", 10*time.Second, func() bool { r, _, _, _ := fs.snapshot(); return len(r) >= 5 })
	byID := map[string]ops.Result{}
	res, _, _, _ := fs.snapshot()
	for _, r := range res {
		byID[r.ID] = r
	}
	if r := byID["w1"]; !r.OK || r.Duplicate {
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

	// Redelivery after a restart: reported as duplicate, not run again.
	stop()
	akPath := filepath.Join(root, "home/alice/.ssh/authorized_keys")
	os.WriteFile(akPath, nil, 0o600) // if w1 ran again, the key would come back
	fs.push(work(t, "w1", ops.SSHKeyAdd{User: "alice", PublicKey: testEd25519}))
	stop = startRun(t, o)
	defer stop()
	waitFor(t, "duplicate result", 10*time.Second, func() bool { r, _, _, _ := fs.snapshot(); return len(r) >= 6 })
	res, hbs, _, _ := fs.snapshot()
	if d := res[5]; d.ID != "w1" || !d.Duplicate || !d.OK || d.Summary != byID["w1"].Summary {
		t.Errorf("redelivered w1 = %+v", d)
	}
	if b, _ := os.ReadFile(akPath); len(b) != 0 {
		t.Error("redelivered work ran again")
	}
	waitFor(t, "heartbeats", 5*time.Second, func() bool { _, n, _, _ := fs.snapshot(); return n >= 2 })
	fs.mu.Lock()
	hb := fs.heartbeats[len(fs.heartbeats)-1]
	fs.mu.Unlock()
	if hb.Facts.AgentVersion != "t1" || hb.Facts.OS != "Test Linux 1.0" || len(hb.Users) != 4 {
		t.Errorf("heartbeat %+v", hb)
	}
	_ = hbs
}

func TestRunRenewsWithoutGap(t *testing.T) {
	fs := newFakeServer(t, true)
	fs.certLife = 3 * time.Second
	dir := t.TempDir()
	if _, err := Enroll(context.Background(), enrollOpts(fs, dir)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, certFile))
	fs.mu.Lock()
	fs.certLife = time.Hour
	fs.mu.Unlock()
	stop := startRun(t, RunOptions{
		StateDir: dir, Root: t.TempDir(), ConfigPath: filepath.Join(t.TempDir(), "none.conf"),
		PollWait: time.Second, HeartbeatInterval: 100 * time.Millisecond, RenewCheckInterval: 50 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	})
	defer stop()
	// The heartbeat fails (no passwd under this root) but the poll keeps
	// the channel busy; renewal must happen before the 3 s certificate dies.
	waitFor(t, "renewal", 5*time.Second, func() bool { _, _, n, _ := fs.snapshot(); return n >= 1 })
	waitFor(t, "new certificate in use", 5*time.Second, func() bool { _, _, _, serials := fs.snapshot(); return serials >= 2 })
	after, _ := os.ReadFile(filepath.Join(dir, certFile))
	if bytes.Equal(before, after) {
		t.Error("cert.pem not replaced")
	}
	st, err := loadState(dir)
	if err != nil {
		t.Fatalf("state after renewal: %v", err)
	}
	if time.Until(st.cert.Leaf.NotAfter) < 30*time.Minute {
		t.Errorf("stored cert expires %v", st.cert.Leaf.NotAfter)
	}
	// Let the old certificate expire: the agent keeps working on the new one.
	time.Sleep(3 * time.Second)
	fs.push(ops.Work{ID: "x", Type: ops.TypeFactsRefresh})
	waitFor(t, "work after expiry of the first certificate", 5*time.Second, func() bool { r, _, _, _ := fs.snapshot(); return len(r) == 1 })
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

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
