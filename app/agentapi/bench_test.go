package agentapi_test

// Benchmarks of issue 5's Performance section: how many agents one server
// holds (and at what memory), dispatch latency at that load, enrollments per
// second. Run them with
//
//	go test -run '^$' -bench Agents -benchtime 1x -timeout 30m ./app/agentapi/
//
// BenchmarkAgentsHeld runs the agent listener in a child process (this test
// binary re-executed into TestAgentsBenchServer) so that the server's memory
// is its own process's VmRSS, not mixed with 10,000 simulated clients.
// Everything listens and dials on 127.0.0.1 only.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	"github.com/nexplane/nexplane/store/storetest"
)

// Settings of the benchmarks (environment).
const (
	envBenchAgents    = "NEXPLANE_BENCH_AGENTS"        // agents held, default 10000
	envBenchDispatch  = "NEXPLANE_BENCH_DISPATCHES"    // work items dispatched at load, default 1000
	envBenchRate      = "NEXPLANE_BENCH_DISPATCH_RATE" // dispatches per second, default 100
	envBenchHold      = "NEXPLANE_BENCH_HOLD"          // how long all polls are held and sampled, default 35s
	envBenchProtos    = "NEXPLANE_BENCH_AGENT_PROTOS"  // "http1.1,h2" by default
	envBenchEnrolls   = "NEXPLANE_BENCH_ENROLLS"       // enrollments per iteration, default 400
	envBenchServerDir = "NEXPLANE_BENCH_AGENT_SERVER"  // set in the child: its state directory
	benchSecret       = "agentapi-bench-secret-0123456789abcdef"
)

func benchEnvInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

func benchCSR(tb testing.TB, key *rsa.PrivateKey) string {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bench"}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ---------------------------------------------------------------------------
// BenchmarkAgentsHeld

// benchFleet is what the parent prepared: a migrated SQLite database with N
// enrolled agents, their certificates, and the one key they share.
type benchFleet struct {
	dir   string
	ids   []string
	certs [][]byte // DER, one per agent
	key   *rsa.PrivateKey
	roots *x509.CertPool
}

// raiseNOFILE raises the soft descriptor limit to the hard one and returns it.
func raiseNOFILE(tb testing.TB) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatalf("setrlimit: %v", err)
		}
	}
	return lim.Cur
}

// newBenchFleet enrolls n agents through the Service (one token each, the
// same CSR each time: one RSA-2048 key, n certificates with n serials and
// subjects), directly rather than over HTTP (BenchmarkAgentsEnroll measures
// that path).
func newBenchFleet(b *testing.B, n int) *benchFleet {
	ctx := b.Context()
	f := &benchFleet{dir: b.TempDir()}
	db, err := store.OpenSQLite(ctx, filepath.Join(f.dir, "nexplane.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	v, err := vault.New([]byte(benchSecret), nil)
	if err != nil {
		b.Fatal(err)
	}
	ca, err := pki.LoadOrCreateCA(ctx, db, v, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	f.roots = ca.Pool()
	svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2), Sealer: v, Agents: ca,
		Logger: slog.New(slog.DiscardHandler)})
	if f.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		b.Fatal(err)
	}
	csr := benchCSR(b, f.key)
	f.ids, f.certs = make([]string, n), make([][]byte, n)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 4 { // signing overlaps the single SQLite writer
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				tok, _, err := svc.CreateEnrollmentToken(ctx, app.SystemActor("bench"), map[string]string{"fleet": "bench"}, 0)
				if err != nil {
					errc <- err
					return
				}
				en, err := svc.Enroll(ctx, tok, csr, fmt.Sprintf("host-%05d", i))
				if err != nil {
					errc <- err
					return
				}
				blk, _ := pem.Decode(en.CertPEM)
				f.ids[i], f.certs[i] = en.Agent.ID, blk.Bytes
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		b.Fatalf("enroll fleet: %v", err)
	}
	b.Logf("set-up: %d agents enrolled through app.Service (token + Enroll each) in %s", n, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(f.dir, "agents.txt"), []byte(strings.Join(f.ids, "\n")), 0o600); err != nil {
		b.Fatal(err)
	}
	return f
}

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

// benchAgent is one simulated agent: its own TLS connection (one per
// agent) and certificate, polling back to back and answering work.
type benchAgent struct {
	id   string
	conn *tls.Conn
}

type benchReceipt struct {
	workID string
	at     time.Time
}

func (f *benchFleet) tlsConfig(i int, proto string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      f.roots,
		ServerName:   "127.0.0.1",
		Certificates: []tls.Certificate{{Certificate: [][]byte{f.certs[i]}, PrivateKey: f.key}},
		NextProtos:   []string{proto},
	}
}

// runHTTP1 polls with hand-written HTTP/1.1 requests over the agent's
// connection (no http.Transport: nothing on the client side but the
// connection and one reader).
func (a *benchAgent) runHTTP1(recv chan<- benchReceipt) error {
	br := bufio.NewReaderSize(a.conn, 2048)
	roundTrip := func(req string) ([]byte, error) {
		if _, err := io.WriteString(a.conn, req); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode/100 != 2 {
			err = fmt.Errorf("%s: %s", resp.Status, body)
		}
		return body, err
	}
	for {
		body, err := roundTrip("GET " + ops.PathWork + "?wait=30 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: nexplane-bench\r\n\r\n")
		if err != nil {
			return err
		}
		results, err := a.received(body, recv)
		if err != nil || results == nil {
			if err != nil {
				return err
			}
			continue
		}
		if _, err := roundTrip(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			ops.PathResults, len(results), results)); err != nil {
			return err
		}
	}
}

// runH2 polls through an http.Transport that speaks HTTP/2 over the
// agent's one (already handshaken) connection, as cmd/nexplane-agent does
// (ForceAttemptHTTP2).
func (a *benchAgent) runH2(ctx context.Context, base string, recv chan<- benchReceipt) error {
	var once atomic.Bool
	tr := &http.Transport{
		ForceAttemptHTTP2: true,
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			if once.Swap(true) {
				return nil, errors.New("bench agent: connection lost")
			}
			return a.conn, nil
		},
		MaxIdleConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	do := func(method, path string, body []byte) ([]byte, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode/100 != 2 {
			err = fmt.Errorf("%s: %s", resp.Status, out)
		}
		if err == nil && resp.ProtoMajor != 2 {
			err = fmt.Errorf("bench agent: spoke %s, want HTTP/2", resp.Proto)
		}
		return out, err
	}
	for {
		body, err := do(http.MethodGet, ops.PathWork+"?wait=30", nil)
		if err != nil {
			return err
		}
		results, err := a.received(body, recv)
		if err != nil {
			return err
		}
		if results != nil {
			if _, err := do(http.MethodPost, ops.PathResults, results); err != nil {
				return err
			}
		}
	}
}

// received notes the arrival of work (time taken before decoding) and
// returns the results to post, or nil when the poll carried nothing.
func (a *benchAgent) received(body []byte, recv chan<- benchReceipt) ([]byte, error) {
	at := time.Now()
	var pr ops.PollResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		return nil, fmt.Errorf("poll response: %w", err)
	}
	if len(pr.Work) == 0 {
		return nil, nil
	}
	rs := make([]ops.Result, len(pr.Work))
	for i, w := range pr.Work {
		recv <- benchReceipt{workID: w.ID, at: at}
		rs[i] = ops.Result{ID: w.ID, OK: true, Summary: "bench"}
	}
	return json.Marshal(rs)
}

// BenchmarkAgentsHeld holds N agents' long-polls on one agent listener (in
// its own process) and measures its memory, then dispatches work to a
// random sample of them and measures the time until each agent has it.
func BenchmarkAgentsHeld(b *testing.B) {
	n := benchEnvInt(b, envBenchAgents, 10000)
	lim := raiseNOFILE(b)
	// Each process holds one descriptor per agent (client side here, server
	// side in the child) plus a few dozen of its own.
	if maxN := int(lim) - 256; n > maxN {
		b.Logf("RLIMIT_NOFILE hard limit %d: scaling agents from %d down to %d", lim, n, maxN)
		n = maxN
	}
	f := newBenchFleet(b, n)
	protos := strings.Split(cmpOr(os.Getenv(envBenchProtos), "http1.1,h2"), ",")
	for _, proto := range protos {
		b.Run("proto="+proto, func(b *testing.B) {
			for range b.N {
				benchHeld(b, f, proto)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func benchHeld(b *testing.B, f *benchFleet, proto string) {
	n := len(f.ids)
	alpn := map[string]string{"http1.1": "http/1.1", "h2": "h2"}[proto]
	if alpn == "" {
		b.Fatalf("%s: unknown protocol %q (http1.1 or h2)", envBenchProtos, proto)
	}
	dispatches := benchEnvInt(b, envBenchDispatch, 1000)
	rate := benchEnvInt(b, envBenchRate, 100)
	hold, err := time.ParseDuration(cmpOr(os.Getenv(envBenchHold), "35s"))
	if err != nil {
		b.Fatalf("%s: %v", envBenchHold, err)
	}

	srv := startBenchServer(b, f.dir)
	time.Sleep(500 * time.Millisecond)
	idleRSS, _, err := srv.rss()
	if err != nil {
		b.Fatal(err)
	}

	// Connect every agent: one TLS connection each, 32 handshakes at a time.
	ctx, cancel := context.WithCancel(b.Context())
	recv := make(chan benchReceipt, dispatches+n)
	agents := make([]*benchAgent, n)
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		failures.Add(1)
		errMu.Lock()
		defer errMu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	lastErr := func() error {
		errMu.Lock()
		defer errMu.Unlock()
		return firstErr
	}
	defer func() {
		cancel()
		srv.kill()
		for _, a := range agents {
			if a != nil && a.conn != nil {
				_ = a.conn.Close()
			}
		}
		wg.Wait()
	}()
	sem := make(chan struct{}, 32)
	b.ResetTimer()
	start := time.Now()
	var connWG sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		connWG.Go(func() {
			defer func() { <-sem }()
			d := net.Dialer{Timeout: 30 * time.Second}
			conn, err := tls.DialWithDialer(&d, "tcp", srv.addr, f.tlsConfig(i, alpn))
			if err != nil {
				fail(fmt.Errorf("agent %d: dial: %w", i, err))
				return
			}
			a := &benchAgent{id: f.ids[i], conn: conn}
			agents[i] = a
			wg.Go(func() {
				var err error
				if proto == "h2" {
					err = a.runH2(ctx, "https://"+srv.addr, recv)
				} else {
					err = a.runHTTP1(recv)
				}
				if ctx.Err() == nil {
					fail(fmt.Errorf("agent %d: %w", i, err))
				}
			})
		})
	}
	connWG.Wait()
	connected := time.Since(start)

	// Wait until the server holds every poll.
	var st benchStats
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if st, err = srv.stats(); err != nil {
			b.Fatal(err)
		}
		if st.Waiting >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if st.Waiting < n {
		b.Fatalf("only %d of %d polls held after 2 minutes; %d agent failures, first: %v", st.Waiting, n, failures.Load(), lastErr())
	}
	allHeld := time.Since(start)

	// Hold: sample the server's memory for a whole poll cycle (every poll
	// ends after 30 s and the agent polls again on the same connection).
	var maxRSS uint64
	minWaiting := n
	holdEnd := time.Now().Add(hold)
	for time.Now().Before(holdEnd) {
		rss, _, err := srv.rss()
		if err != nil {
			b.Fatal(err)
		}
		maxRSS = max(maxRSS, rss)
		if s, err := srv.stats(); err == nil {
			minWaiting = min(minWaiting, s.Waiting)
			st = s
		}
		time.Sleep(time.Second)
	}

	// Dispatch at load: random agents, paced, one work item each.
	perm := mrand.Perm(n)
	sent := make([]time.Time, dispatches)
	rtts := make([]time.Duration, dispatches)
	done := make(chan []time.Time) // receipt time by dispatch, zero if none
	go func() {
		got := make([]time.Time, dispatches)
		count := 0
		timeout := time.After(time.Duration(dispatches/rate)*time.Second + 60*time.Second)
		for count < dispatches {
			select {
			case r := <-recv:
				i, err := strconv.Atoi(strings.TrimPrefix(r.workID, "bench-"))
				if err != nil || i < 0 || i >= dispatches || !got[i].IsZero() {
					continue
				}
				got[i] = r.at
				count++
			case <-timeout:
				done <- got
				return
			}
		}
		done <- got
	}()
	dstart := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range dispatches {
		time.Sleep(time.Until(dstart.Add(time.Duration(i) * interval)))
		sent[i] = time.Now()
		if err := srv.enqueue(f.ids[perm[i%n]], fmt.Sprintf("bench-%d", i)); err != nil {
			b.Fatalf("dispatch %d: %v", i, err)
		}
		rtts[i] = time.Since(sent[i])
	}
	var lat []time.Duration
	for i, at := range <-done {
		if !at.IsZero() {
			lat = append(lat, at.Sub(sent[i]))
		}
	}
	b.StopTimer()
	rss, hwm, _ := srv.rss()
	maxRSS = max(maxRSS, rss)

	if fl := failures.Load(); fl > 0 {
		b.Errorf("%d agent connections failed; first: %v", fl, lastErr())
	}
	if len(lat) < dispatches {
		b.Errorf("%d of %d dispatched items never reached their agent", dispatches-len(lat), dispatches)
	}
	mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
	b.ReportMetric(float64(n), "agents")
	b.ReportMetric(mib(maxRSS), "server-MiB")
	b.ReportMetric(mib(idleRSS), "server-idle-MiB")
	b.ReportMetric(mib(hwm), "server-peak-MiB")
	b.ReportMetric(float64(maxRSS-idleRSS)/1024/float64(n), "KiB/agent")
	b.ReportMetric(connected.Seconds(), "connect-s")
	b.ReportMetric(ms(quantile(lat, 0.50)), "dispatch-p50-ms")
	b.ReportMetric(ms(quantile(lat, 0.99)), "dispatch-p99-ms")
	b.ReportMetric(ms(quantile(lat, 1)), "dispatch-max-ms")
	b.ReportMetric(ms(quantile(rtts, 0.50)), "enqueue-rtt-p50-ms")
	b.Logf("%s: %d agents connected in %s (%.0f handshakes/s), all polls held after %s; min polls held while sampling %d",
		proto, n, connected.Round(time.Millisecond), float64(n)/connected.Seconds(), allHeld.Round(time.Millisecond), minWaiting)
	b.Logf("%s: server VmRSS idle %.0f MiB, held %.0f MiB, peak %.0f MiB; Go heap in use %.0f MiB (live at last GC %.0f MiB), stacks %.0f MiB, %d goroutines",
		proto, mib(idleRSS), mib(maxRSS), mib(hwm), mib(st.HeapInuse), mib(st.HeapLive), mib(st.StackInuse), st.Goroutines)
	b.Logf("%s: %d dispatches at %d/s: p50 %.2f ms, p99 %.2f ms, max %.2f ms (control round trip p50 %.2f ms included)",
		proto, len(lat), rate, ms(quantile(lat, 0.5)), ms(quantile(lat, 0.99)), ms(quantile(lat, 1)), ms(quantile(rtts, 0.5)))
}

// ---------------------------------------------------------------------------
// BenchmarkAgentsEnroll

// BenchmarkAgentsEnroll measures POST /api/v1/agents/enroll over TLS with
// the CA fingerprint pinned, as `nexplane-agent enroll` does: a fresh TLS
// connection and a fresh single-use token (made beforehand through the
// Service, not timed) per enrollment. The CSR (RSA-2048) is made once: the
// server still parses, verifies and signs per request.
func BenchmarkAgentsEnroll(b *testing.B) {
	per := benchEnvInt(b, envBenchEnrolls, 400)
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			db := storetest.MustOpenStore(b)
			v, err := vault.New([]byte(benchSecret), nil)
			if err != nil {
				b.Fatal(err)
			}
			ca, err := pki.LoadOrCreateCA(b.Context(), db, v, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			hub := dispatch.NewHub(dispatch.HubConfig{})
			discard := slog.New(slog.DiscardHandler)
			svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2), Sealer: v, Agents: ca,
				AgentRevoked: hub.Revoke, Logger: discard})
			serverCert, err := ca.ServerCert(pki.AgentListenerHosts(nil), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(httpx.RequestIDs(agentapi.New(agentapi.Config{
				Service: svc, Hub: hub, CA: ca, Logger: discard})))
			srv.TLS = agentapi.TLSConfig(ca, serverCert)
			srv.StartTLS()
			b.Cleanup(func() { hub.Close(); srv.Close() })

			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				b.Fatal(err)
			}
			csr := benchCSR(b, key)
			fp := ca.Fingerprint()
			tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: benchPinnedTLS(fp)}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: time.Minute}

			var lat []time.Duration
			var total time.Duration
			for range b.N {
				b.StopTimer()
				tokens := make([]string, per)
				for i := range tokens {
					if tokens[i], _, err = svc.CreateEnrollmentToken(b.Context(), app.SystemActor("bench"), nil, 0); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				var next atomic.Int64
				var mu sync.Mutex
				var wg sync.WaitGroup
				errc := make(chan error, conc)
				start := time.Now()
				for range conc {
					wg.Go(func() {
						for {
							i := int(next.Add(1) - 1)
							if i >= per {
								return
							}
							body, _ := json.Marshal(ops.EnrollRequest{Token: tokens[i], CSR: csr, Hostname: fmt.Sprintf("h%d", i)})
							t0 := time.Now()
							resp, err := client.Post(srv.URL+ops.PathEnroll, "application/json", bytes.NewReader(body))
							if err != nil {
								errc <- err
								return
							}
							var er ops.EnrollResponse
							err = json.NewDecoder(resp.Body).Decode(&er)
							resp.Body.Close()
							if err != nil || resp.StatusCode != http.StatusOK || er.AgentID == "" {
								errc <- fmt.Errorf("enroll: %s %v", resp.Status, err)
								return
							}
							d := time.Since(t0)
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				total += time.Since(start)
				close(errc)
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(per*b.N)/total.Seconds(), "enrollments/s")
			b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
		})
	}
}

// benchPinnedTLS trusts the server when its chain carries the CA with this
// SHA-256 fingerprint and that CA signed the server's certificate.
func benchPinnedTLS(fingerprint string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			for _, c := range cs.PeerCertificates[1:] {
				sum := sha256.Sum256(c.Raw)
				if hex.EncodeToString(sum[:]) != fingerprint {
					continue
				}
				pool := x509.NewCertPool()
				pool.AddCert(c)
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: cs.ServerName})
				return err
			}
			return errors.New("server did not present the pinned CA")
		},
	}
}
