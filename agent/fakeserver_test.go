package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// testCA is a throwaway CA standing in for the control plane's.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

func (ca *testCA) issue(pub any, cn string, life time.Duration, usage x509.ExtKeyUsage, ips ...net.IP) []byte {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Second), NotAfter: time.Now().Add(life),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		panic(err) // also called from handlers, where t.Fatal is not allowed
	}
	return der
}

// fakeServer is a minimal agent listener: enough of the contract to drive
// the runtime, with real TLS and client certificates.
type fakeServer struct {
	*httptest.Server
	ca       *testCA
	certLife time.Duration

	mu         sync.Mutex
	queue      []ops.Work
	results    []ops.Result
	heartbeats []ops.Heartbeat
	renewals   int
	enrolls    int
	clientCNs  map[string]int // serials seen on authenticated requests
}

func newFakeServer(t *testing.T, sendCA bool) *fakeServer {
	t.Helper()
	fs := &fakeServer{ca: newTestCA(t), certLife: time.Hour, clientCNs: map[string]int{}}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := fs.ca.issue(&srvKey.PublicKey, "agent listener", time.Hour, x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	chain := [][]byte{leaf}
	if sendCA {
		chain = append(chain, fs.ca.cert.Raw)
	}
	pool := x509.NewCertPool()
	pool.AddCert(fs.ca.cert)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ops.PathEnroll, fs.enroll)
	mux.HandleFunc("GET "+ops.PathWork, fs.authed(fs.work))
	mux.HandleFunc("POST "+ops.PathResults, fs.authed(fs.postResults))
	mux.HandleFunc("POST "+ops.PathHeartbeat, fs.authed(fs.heartbeat))
	mux.HandleFunc("POST "+ops.PathRenew, fs.authed(fs.renew))
	fs.Server = httptest.NewUnstartedServer(mux)
	fs.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: srvKey}},
		ClientAuth:   tls.VerifyClientCertIfGiven, ClientCAs: pool, MinVersion: tls.VersionTLS12,
	}
	fs.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	fs.StartTLS()
	t.Cleanup(fs.Close)
	return fs
}

func (fs *fakeServer) fingerprint() string { return CertFingerprint(fs.ca.cert) }

func (fs *fakeServer) sign(w http.ResponseWriter, csrPEM string) (string, bool) {
	blk, _ := pem.Decode([]byte(csrPEM))
	if blk == nil {
		http.Error(w, "bad csr", 400)
		return "", false
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || csr.CheckSignature() != nil {
		http.Error(w, "bad csr", 400)
		return "", false
	}
	fs.mu.Lock()
	life := fs.certLife
	fs.mu.Unlock()
	der := fs.ca.issue(csr.PublicKey, "agent-1", life, x509.ExtKeyUsageClientAuth)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), true
}

func (fs *fakeServer) enroll(w http.ResponseWriter, r *http.Request) {
	var req ops.EnrollRequest
	if json.NewDecoder(r.Body).Decode(&req) != nil || req.Token != "good-token" {
		w.WriteHeader(401)
		w.Write([]byte(`{"error":{"code":"unauthorized","message":"invalid or used token"}}`))
		return
	}
	cert, ok := fs.sign(w, req.CSR)
	if !ok {
		return
	}
	fs.mu.Lock()
	fs.enrolls++
	fs.mu.Unlock()
	json.NewEncoder(w).Encode(ops.EnrollResponse{AgentID: "agent-1", Certificate: cert, CA: fs.ca.pem})
}

func (fs *fakeServer) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "client certificate required", http.StatusUnauthorized)
			return
		}
		fs.mu.Lock()
		fs.clientCNs[r.TLS.PeerCertificates[0].SerialNumber.String()]++
		fs.mu.Unlock()
		h(w, r)
	}
}

func (fs *fakeServer) push(w ...ops.Work) {
	fs.mu.Lock()
	fs.queue = append(fs.queue, w...)
	fs.mu.Unlock()
}

func (fs *fakeServer) work(w http.ResponseWriter, r *http.Request) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		fs.mu.Lock()
		q := fs.queue
		fs.queue = nil
		fs.mu.Unlock()
		if len(q) > 0 || time.Now().After(deadline) || r.URL.Query().Get("wait") == "0" {
			json.NewEncoder(w).Encode(ops.PollResponse{Work: q})
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (fs *fakeServer) postResults(w http.ResponseWriter, r *http.Request) {
	var res []ops.Result
	if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	fs.mu.Lock()
	fs.results = append(fs.results, res...)
	fs.mu.Unlock()
	w.WriteHeader(204)
}

func (fs *fakeServer) heartbeat(w http.ResponseWriter, r *http.Request) {
	var hb ops.Heartbeat
	if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	fs.mu.Lock()
	fs.heartbeats = append(fs.heartbeats, hb)
	fs.mu.Unlock()
	w.WriteHeader(204)
}

func (fs *fakeServer) renew(w http.ResponseWriter, r *http.Request) {
	var req ops.RenewRequest
	if json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "bad", 400)
		return
	}
	cert, ok := fs.sign(w, req.CSR)
	if !ok {
		return
	}
	fs.mu.Lock()
	fs.renewals++
	fs.mu.Unlock()
	json.NewEncoder(w).Encode(ops.RenewResponse{Certificate: cert})
}

func (fs *fakeServer) snapshot() (results []ops.Result, hbs int, renewals int, serials int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]ops.Result(nil), fs.results...), len(fs.heartbeats), fs.renewals, len(fs.clientCNs)
}
