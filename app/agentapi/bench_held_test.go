package agentapi_test

import (
	"context"
	"crypto/tls"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
