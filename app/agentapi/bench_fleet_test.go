package agentapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store"
)

// benchFleet is what the parent prepared: a migrated SQLite database with N
// enrolled agents, their certificates, and the one key they share.
type benchFleet struct {
	dir   string
	ids   []string
	certs [][]byte // DER, one per agent
	key   *rsa.PrivateKey
	roots *x509.CertPool
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

func (f *benchFleet) tlsConfig(i int, proto string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      f.roots,
		ServerName:   "127.0.0.1",
		Certificates: []tls.Certificate{{Certificate: [][]byte{f.certs[i]}, PrivateKey: f.key}},
		NextProtos:   []string{proto},
	}
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
