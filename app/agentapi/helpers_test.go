package agentapi_test

import (
	"bytes"
	"context"
	"crypto"
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
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/agentapi"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// env is the agent listener over a real store (SQLite, or PostgreSQL when
// NEXPLANE_TEST_POSTGRES_URL is set) on a real TLS socket.
type env struct {
	t     testing.TB
	db    *store.DB
	svc   *app.Service
	ca    *pki.CA
	hub   *dispatch.Hub
	clock *testkit.Clock
	srv   *httptest.Server

	mu      sync.Mutex
	results []ops.Result
}

type envOpts struct {
	// noNotify leaves app.Config.AgentRevoked unset, as for a revocation
	// made by another server process; WatchRevocations must then notice.
	noNotify bool
	// serverID is the listener's Config.ServerID.
	serverID string
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t}
	e.hub = dispatch.NewHub(dispatch.HubConfig{OnResult: func(_ string, r ops.Result) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.results = append(e.results, r)
	}})
	k := testkit.NewService(t, testkit.Options{Agents: true, Configure: func(c *app.Config) {
		if !o.noNotify {
			c.AgentRevoked = e.hub.Revoke
		}
	}})
	e.db, e.svc, e.ca, e.clock = k.DB, k.Service, k.CA, k.Clock
	e.srv = e.listener(e.hub, o.serverID)
	t.Cleanup(func() { e.hub.Close() })
	return e
}

// listener starts an agent listener on the env's database and CA, as a
// server process (serverID) with its own hub would.
func (e *env) listener(hub *dispatch.Hub, serverID string) *httptest.Server {
	e.t.Helper()
	serverCert, err := e.ca.ServerCert(pki.AgentListenerHosts(nil), time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return testkit.Serve(e.t, agentapi.New(agentapi.Config{Service: e.svc, Hub: hub, CA: e.ca, ServerID: serverID}),
		testkit.ServerOptions{TLSConfig: agentapi.TLSConfig(e.ca, serverCert)})
}

// token makes an enrollment token as the CLI would (system actor).
func (e *env) token(labels map[string]string) string {
	e.t.Helper()
	tok, _, err := e.svc.CreateEnrollmentToken(context.Background(), app.SystemActor("test"), labels, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func csrPEM(t testing.TB, key crypto.Signer) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "host"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// pinnedTLS trusts the server only when its chain carries a CA with the
// given SHA-256 fingerprint that signed the server's certificate: what
// `nexplane-agent enroll --ca-sha256` does on first contact.
func pinnedTLS(fingerprint string) *tls.Config {
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

// agent is a simulated agent: its key, certificate and HTTP client.
type agent struct {
	e       *env
	id      string
	key     *rsa.PrivateKey
	certPEM []byte
	caPEM   []byte
	client  *http.Client
}

func httpClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// enroll runs enrollment over pinned TLS and returns the answer.
func (e *env) enrollRaw(body any, fingerprint string) (int, []byte, error) {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	resp, err := httpClient(pinnedTLS(fingerprint)).Post(e.srv.URL+ops.PathEnroll, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// enroll makes a new agent with key number k.
func (e *env) enroll(k int) *agent {
	e.t.Helper()
	key := testkit.RSAKey(e.t, k)
	status, body, err := e.enrollRaw(ops.EnrollRequest{Token: e.token(map[string]string{"env": "test"}),
		CSR: csrPEM(e.t, key), Hostname: "web-1"}, e.ca.Fingerprint())
	if err != nil || status != http.StatusOK {
		e.t.Fatalf("enroll: %d %s %v", status, body, err)
	}
	var er ops.EnrollResponse
	if err := json.Unmarshal(body, &er); err != nil {
		e.t.Fatal(err)
	}
	a := &agent{e: e, id: er.AgentID, key: key, certPEM: []byte(er.Certificate), caPEM: []byte(er.CA)}
	a.useCert(a.certPEM, key)
	return a
}

// useCert switches the agent's client to a certificate (new connections).
func (a *agent) useCert(certPEM []byte, key *rsa.PrivateKey) {
	a.e.t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		a.e.t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		a.e.t.Fatal(err)
	}
	a.client = mtlsClient(a.e.t, a.caPEM, pair)
}

func mtlsClient(t testing.TB, caPEM []byte, pair tls.Certificate) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA PEM")
	}
	return httpClient(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, Certificates: []tls.Certificate{pair}})
}

// do sends a request over the agent's mutual TLS client.
func (a *agent) do(method, path string, body any) (int, []byte, error) {
	return doWith(a.e.t, a.client, method, a.e.srv.URL+path, body)
}

func doWith(t testing.TB, c *http.Client, method, url string, body any) (int, []byte, error) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func (a *agent) mustDo(method, path string, body any, want int) []byte {
	a.e.t.Helper()
	status, out, err := a.do(method, path, body)
	if err != nil || status != want {
		a.e.t.Fatalf("%s %s: %d %s %v, want %d", method, path, status, out, err, want)
	}
	return out
}

func errMessage(b []byte) string {
	var eb httpx.ErrorBody
	_ = json.Unmarshal(b, &eb)
	return eb.Error.Message
}
