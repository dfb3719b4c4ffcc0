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
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
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
