package agentapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/agentapi"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store"
)

// benchServerProc is the agent listener in its own process.
type benchServerProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string // agent listener
	ctl   string // test-only control endpoint (plain HTTP, 127.0.0.1)
	done  chan struct{}
}

func startBenchServer(b *testing.B, dir string) *benchServerProc {
	cmd := exec.Command(os.Args[0], "-test.run=^TestAgentsBenchServer$", "-test.timeout=60m", "-test.v=false")
	cmd.Env = append(os.Environ(), envBenchServerDir+"="+dir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &benchServerProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	ready := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "BENCH-READY" {
				ready <- [2]string{f[1], f[2]}
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	b.Cleanup(p.stop)
	select {
	case a := <-ready:
		p.addr, p.ctl = a[0], a[1]
	case <-p.done:
		b.Fatal("bench server exited before listening")
	case <-time.After(60 * time.Second):
		b.Fatal("bench server did not listen within 60 s")
	}
	return p
}

// stop closes the child's stdin (it shuts down), then kills it if needed.
func (p *benchServerProc) stop() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill ends the child at once (the measurement is over; a graceful
// shutdown would only log 10,000 polls ending).
func (p *benchServerProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// rss returns the child's VmRSS and VmHWM in bytes.
func (p *benchServerProc) rss() (rss, hwm uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}

type benchStats struct {
	Waiting    int    `json:"waiting"`
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapLive   uint64 `json:"heap_live"` // live heap as of the last GC
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
}

var benchCtlClient = &http.Client{Timeout: 30 * time.Second}

func (p *benchServerProc) stats() (benchStats, error) {
	var s benchStats
	resp, err := benchCtlClient.Get("http://" + p.ctl + "/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func (p *benchServerProc) enqueue(agentID, workID string) error {
	resp, err := benchCtlClient.Post("http://"+p.ctl+"/enqueue?agent="+agentID+"&id="+workID, "", nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("enqueue: %s", resp.Status)
	}
	return nil
}

// TestAgentsBenchServer is not a test: it is the child process of
// BenchmarkAgentsHeld, an agent listener wired as cmd/nexplane wires it
// (same http.Server timeouts, revocation watcher), plus a plain-HTTP control
// endpoint on 127.0.0.1 for the benchmark: POST /enqueue (Hub.Enqueue) and
// GET /stats. It serves until its stdin closes.
func TestAgentsBenchServer(t *testing.T) {
	dir := os.Getenv(envBenchServerDir)
	if dir == "" {
		t.Skip("child process of BenchmarkAgentsHeld only")
	}
	raiseNOFILE(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	idsRaw, err := os.ReadFile(filepath.Join(dir, "agents.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Split(string(idsRaw), "\n")
	db, err := store.OpenSQLite(ctx, filepath.Join(dir, "nexplane.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := vault.New([]byte(benchSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadOrCreateCA(ctx, db, v, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.ServerCert(pki.AgentListenerHosts(nil), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hub := dispatch.NewHub(dispatch.HubConfig{Logger: log})
	svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2), Sealer: v, Agents: ca,
		AgentRevoked: hub.Revoke, Logger: log})
	var h http.Handler = agentapi.New(agentapi.Config{Service: svc, Hub: hub, CA: ca, Logger: log})
	h = httpx.Recover(log, func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, log, errors.New("panic"))
	})(h)
	h = httpx.RequestIDs(h)
	srv := &http.Server{ // as cmd/nexplane/agents.go
		Handler:           h,
		TLSConfig:         agentapi.TLSConfig(ca, serverCert),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelInfo),
	}
	srv.RegisterOnShutdown(hub.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go dispatch.WatchRevocations(ctx, svc, hub, time.Second, log)
	go func() { _ = srv.ServeTLS(ln, "", "") }()

	ctl := http.NewServeMux()
	ctl.HandleFunc("POST /enqueue", func(w http.ResponseWriter, r *http.Request) {
		err := hub.Enqueue(r.URL.Query().Get("agent"), ops.Work{ID: r.URL.Query().Get("id"),
			Type: "host.facts.refresh", Params: json.RawMessage(`{}`)})
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	ctl.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		var s benchStats
		for _, id := range ids {
			if hub.Waiting(id) {
				s.Waiting++
			}
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		s.Goroutines, s.HeapInuse, s.StackInuse, s.Sys = runtime.NumGoroutine(), m.HeapInuse, m.StackInuse, m.Sys
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		if live[0].Value.Kind() == metrics.KindUint64 {
			s.HeapLive = live[0].Value.Uint64()
		}
		_ = json.NewEncoder(w).Encode(s)
	})
	ctlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctlSrv := &http.Server{Handler: ctl, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ctlSrv.Serve(ctlLn) }()

	fmt.Printf("BENCH-READY %s %s\n", ln.Addr(), ctlLn.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it (or dies)
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shutCancel()
	_ = srv.Shutdown(shutCtx)
	_ = ctlSrv.Close()
	_ = srv.Close()
}
