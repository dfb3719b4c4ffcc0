package tlspolicy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// cert is a self-signed certificate for 127.0.0.1 with key.
func cert(t *testing.T, key crypto.Signer) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func certs(t *testing.T) []tls.Certificate {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return []tls.Certificate{cert(t, ec), cert(t, rk)}
}

// handshake runs a real TLS handshake over loopback TCP and returns what
// the client agreed, or the client's error.
func handshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.(*tls.Conn).Handshake()
		c.Close()
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	var st tls.ConnectionState
	if err == nil {
		st = c.ConnectionState()
		c.Close()
	}
	<-done
	return st, err
}

var (
	cbcSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}
	rsaKexSuites = []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_RSA_WITH_AES_128_CBC_SHA}
	gcmSuites    = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	chachaSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}
)

// Offers are clients as peers might configure them; ok says whether the
// policy agrees to talk to them.
var offers = []struct {
	name     string
	min, max uint16
	suites   []uint16
	ok       bool
}{
	{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, nil, true},
	{"TLS 1.2 with AES-GCM", tls.VersionTLS12, tls.VersionTLS12, gcmSuites, true},
	{"TLS 1.2 with ChaCha20-Poly1305", tls.VersionTLS12, tls.VersionTLS12, chachaSuites, true},
	{"TLS 1.2 with CBC only", tls.VersionTLS12, tls.VersionTLS12, cbcSuites, false},
	{"TLS 1.2 with RSA key exchange only", tls.VersionTLS12, tls.VersionTLS12, rsaKexSuites, false},
	{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, nil, false},
}

func TestServerAgreesOnlyToAEAD(t *testing.T) {
	server := Apply(&tls.Config{Certificates: certs(t)})
	for _, o := range offers {
		t.Run(o.name, func(t *testing.T) {
			st, err := handshake(t, server, &tls.Config{InsecureSkipVerify: true, MinVersion: o.min, MaxVersion: o.max, CipherSuites: o.suites}) //nolint:gosec // the test checks the server's choice, not its name
			if (err == nil) != o.ok {
				t.Fatalf("handshake err = %v, want ok=%v", err, o.ok)
			}
			if err == nil && st.Version == tls.VersionTLS12 && !isPolicySuite(st.CipherSuite) {
				t.Errorf("agreed %s", tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
}

// TestClientAgreesOnlyToAEAD is the same from the other side: a target
// server configured like each offer (the LDAP client uses the policy).
func TestClientAgreesOnlyToAEAD(t *testing.T) {
	cs := certs(t)
	for _, o := range offers {
		t.Run(o.name, func(t *testing.T) {
			server := &tls.Config{Certificates: cs, MinVersion: o.min, MaxVersion: o.max, CipherSuites: o.suites}
			st, err := handshake(t, server, Apply(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // as above
			if (err == nil) != o.ok {
				t.Fatalf("handshake err = %v, want ok=%v", err, o.ok)
			}
			if err == nil && st.Version == tls.VersionTLS12 && !isPolicySuite(st.CipherSuite) {
				t.Errorf("agreed %s", tls.CipherSuiteName(st.CipherSuite))
			}
		})
	}
}

func isPolicySuite(id uint16) bool { return slices.Contains(cipherSuites, id) }

// TestSuitesAreSecureAEAD guards the list itself: every suite is one Go
// calls secure, none is CBC or static RSA.
func TestSuitesAreSecureAEAD(t *testing.T) {
	secure := map[uint16]bool{}
	for _, s := range tls.CipherSuites() {
		secure[s.ID] = true
	}
	for _, id := range CipherSuites() {
		name := tls.CipherSuiteName(id)
		if !secure[id] || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) || !strings.Contains(name, "ECDHE") {
			t.Errorf("%s is not an ECDHE AEAD suite", name)
		}
	}
}
