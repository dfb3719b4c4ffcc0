package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store/storetest"
)

const secretA = "pki-test-secret-A-0123456789abcdef0123"

func mustVault(t *testing.T, secret string) *vault.Vault {
	t.Helper()
	v, err := vault.New([]byte(secret), nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func rsa2048(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func csrFor(t *testing.T, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	if tmpl == nil {
		tmpl = &x509.CertificateRequest{Subject: pkix.Name{CommonName: "whatever"}}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLoadOrCreateCAIsStableAndSealed(t *testing.T) {
	db := storetest.MustOpenStore(t)
	ctx := t.Context()
	v := mustVault(t, secretA)
	now := time.Now()

	// Starters racing on an empty database agree on one CA.
	var wg sync.WaitGroup
	fps := make([]string, 4)
	for i := range fps {
		wg.Go(func() {
			ca, err := pki.LoadOrCreateCA(ctx, db, v, now)
			if err != nil {
				t.Error(err)
				return
			}
			fps[i] = ca.Fingerprint()
		})
	}
	wg.Wait()
	for _, fp := range fps {
		if fp == "" || fp != fps[0] {
			t.Fatalf("fingerprints differ: %v", fps)
		}
	}
	ca, err := pki.LoadOrCreateCA(ctx, db, v, now)
	if err != nil || ca.Fingerprint() != fps[0] || len(fps[0]) != 64 {
		t.Fatalf("reload: %v %v", ca, err)
	}
	c := ca.Certificate()
	if !c.IsCA || c.PublicKeyAlgorithm != x509.ECDSA || c.NotAfter.Before(now.Add(19*365*24*time.Hour)) {
		t.Errorf("CA certificate: CA=%v alg=%v notAfter=%v", c.IsCA, c.PublicKeyAlgorithm, c.NotAfter)
	}

	// The key is sealed: not PKCS#8 in the clear, and bound to its row.
	sealed, err := db.Setting(ctx, pki.CAKeySetting)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(sealed); err == nil {
		t.Fatal("CA key stored in the clear")
	}
	if _, err := v.Open(sealed, "setting:other"); err == nil {
		t.Fatal("sealed CA key opens under another purpose")
	}
	// Another SECRET_KEY cannot load it.
	if _, err := pki.LoadOrCreateCA(ctx, db, mustVault(t, "pki-test-secret-B-0123456789abcdef0123"), now); err == nil {
		t.Fatal("CA loaded under the wrong SECRET_KEY")
	}
	// A certificate swapped in the database is refused.
	other, err := pki.LoadOrCreateCA(ctx, storetest.MustOpenStore(t), v, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.WithTx(ctx, func(tx app.Tx) error { return tx.PutSetting(ctx, pki.CACertSetting, other.CAPEM()) }); err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadOrCreateCA(ctx, db, v, now); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("swapped certificate: %v", err)
	}
}

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.Context(), storetest.MustOpenSQLite(t), mustVault(t, secretA), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestSignAgentPicksSubjectAndUsage(t *testing.T) {
	ca := newCA(t)
	now := time.Now()
	// The CSR asks for much more than it gets.
	tmpl := &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: "root", Organization: []string{"Nexplane"}},
		DNSNames:       []string{"evil.example.com"},
		EmailAddresses: []string{"x@example.com"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true,
			Value: []byte{0x30, 0x03, 0x01, 0x01, 0xff}}}, // basicConstraints CA:TRUE
	}
	certPEM, serial, notAfter, err := ca.SignAgent(csrFor(t, rsa2048(t), tmpl), "0123456789abcdef", now)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "agent:0123456789abcdef" || len(cert.Subject.Organization) != 1 ||
		cert.Subject.Organization[0] != "Nexplane agents" {
		t.Errorf("subject %v", cert.Subject)
	}
	if len(cert.DNSNames)+len(cert.EmailAddresses)+len(cert.IPAddresses)+len(cert.URIs) != 0 || cert.IsCA {
		t.Errorf("CSR names or CA flag leaked: %v %v CA=%v", cert.DNSNames, cert.EmailAddresses, cert.IsCA)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("usage %v %v", cert.ExtKeyUsage, cert.KeyUsage)
	}
	if pki.SerialString(cert.SerialNumber) != serial || cert.SerialNumber.BitLen() > 128 || cert.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %s (%d bits) vs %s", cert.SerialNumber, cert.SerialNumber.BitLen(), serial)
	}
	if d := cert.NotAfter.Sub(now); d < 364*24*time.Hour || d > 366*24*time.Hour || !cert.NotAfter.Equal(notAfter.Truncate(time.Second)) {
		t.Errorf("validity %v (notAfter %v vs %v)", d, cert.NotAfter, notAfter)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify as client: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool()}); err == nil {
		t.Error("agent certificate verifies as a server certificate")
	}

	// Two issues never share a serial; the configured validity applies.
	ca.SetAgentValidity(2 * time.Minute)
	_, serial2, notAfter2, err := ca.SignAgent(csrFor(t, rsa2048(t), nil), "0123456789abcdef", now)
	if err != nil || serial2 == serial || notAfter2.Sub(now) != 2*time.Minute {
		t.Errorf("second issue: %v %s %v", err, serial2, notAfter2.Sub(now))
	}
}

func TestSignAgentRefusesBadCSRs(t *testing.T) {
	ca := newCA(t)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsa4096, _ := rsa.GenerateKey(rand.Reader, 4096)
	tampered := csrFor(t, rsa2048(t), nil)
	tampered[len(tampered)-1] ^= 0x01 // last byte of the signature
	for _, tc := range []struct {
		name, csr, want string
		der             []byte
	}{
		{name: "ecdsa", der: csrFor(t, ec, nil), want: "must be RSA-2048, not ECDSA"},
		{name: "rsa1024", der: csrFor(t, rsa1024, nil), want: "must be RSA-2048, not RSA-1024"},
		{name: "rsa4096", der: csrFor(t, rsa4096, nil), want: "must be RSA-2048, not RSA-4096"},
		{name: "tampered", der: tampered, want: "signature does not verify"},
		{name: "garbage", der: []byte("not a csr"), want: "not a valid PKCS#10"},
		{name: "empty", der: nil, want: "not a valid PKCS#10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := ca.SignAgent(tc.der, "0123456789abcdef", time.Now())
			if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), tc.want) {
				t.Fatalf("err = %v, want invalid %q", err, tc.want)
			}
		})
	}
}

func TestServerCertVerifiesUnderCA(t *testing.T) {
	ca := newCA(t)
	hosts := pki.AgentListenerHosts([]string{"agents.example.com", " localhost ", "10.0.0.7"})
	cert, err := ca.ServerCert(hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.Certificate) != 2 || pki.Fingerprint(cert.Certificate[1]) != ca.Fingerprint() {
		t.Fatal("chain does not carry the CA")
	}
	if _, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("server key is %T, want ECDSA", cert.PrivateKey)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "agents.example.com", "10.0.0.7"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool()}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if n := strings.Count(strings.Join(cert.Leaf.DNSNames, ","), "localhost"); n != 1 {
		t.Errorf("localhost listed %d times: %v", n, cert.Leaf.DNSNames)
	}
}

// FuzzCheckAgentCSR feeds the agent CSR check arbitrary bytes: a valid
// request must pass, anything else must be refused as invalid, and nothing
// may panic. What passes is a self-signed RSA-2048 request with e=65537.
// Fuzzing here is slow (a few inputs a second): this test binary links the
// SQLite driver for the CA tests, and -fuzz instruments all of it.
func FuzzCheckAgentCSR(f *testing.F) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	csr := func(k crypto.Signer) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fuzz"}}, k)
		if err != nil {
			f.Fatal(err)
		}
		return der
	}
	valid := csr(key)
	if _, err := pki.CheckAgentCSR(valid); err != nil {
		f.Fatalf("valid CSR refused: %v", err)
	}
	tampered := bytes.Clone(valid)
	tampered[len(tampered)-1] ^= 0x01
	pemOfValid := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: valid})
	for _, seed := range [][]byte{valid, tampered, csr(ec), valid[:len(valid)/2], pemOfValid, []byte("not a csr"), {0x30, 0x82, 0xff, 0xff}, nil} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		pub, err := pki.CheckAgentCSR(der)
		if err != nil {
			if pub != nil || app.ErrCode(err) != app.EINVALID {
				t.Fatalf("refusal = %v, %v; want nil and an invalid-input error", pub, err)
			}
			if bytes.Equal(der, valid) {
				t.Fatalf("valid CSR refused: %v", err)
			}
			return
		}
		if pub.N.BitLen() != pki.AgentKeyBits || pub.E != 65537 {
			t.Fatalf("accepted RSA-%d with e=%d", pub.N.BitLen(), pub.E)
		}
		parsed, err := x509.ParseCertificateRequest(der)
		if err != nil || parsed.CheckSignature() != nil || !pub.Equal(parsed.PublicKey) {
			t.Fatalf("accepted a request that does not parse, verify or carry the returned key: %v", err)
		}
	})
}
