package agentapi_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/agentapi"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/internal/testkit"
)

// BenchmarkAgentsEnroll measures POST /api/v1/agents/enroll over TLS with
// the CA fingerprint pinned, as `nexplane-agent enroll` does: a fresh TLS
// connection and a fresh single-use token (made beforehand through the
// Service, not timed) per enrollment. The CSR (RSA-2048) is made once: the
// server still parses, verifies and signs per request.
func BenchmarkAgentsEnroll(b *testing.B) {
	per := benchEnvInt(b, envBenchEnrolls, 400)
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			hub := dispatch.NewHub(dispatch.HubConfig{})
			discard := slog.New(slog.DiscardHandler)
			k := testkit.NewService(b, testkit.Options{Agents: true, Log: discard,
				Configure: func(c *app.Config) { c.AgentRevoked = hub.Revoke }})
			svc, ca := k.Service, k.CA
			serverCert, err := ca.ServerCert(pki.AgentListenerHosts(nil), time.Now())
			if err != nil {
				b.Fatal(err)
			}
			srv := testkit.Serve(b, agentapi.New(agentapi.Config{Service: svc, Hub: hub, CA: ca, Logger: discard}),
				testkit.ServerOptions{TLSConfig: agentapi.TLSConfig(ca, serverCert), Log: discard})
			b.Cleanup(hub.Close)

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
