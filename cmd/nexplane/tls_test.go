package main

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestListenersAgreeOnlyToAEAD: both listeners speak TLS 1.3, or TLS 1.2
// with ECDHE AEAD suites; a client offering only CBC suites (or static RSA
// key exchange) at TLS 1.2 is refused during the handshake.
func TestListenersAgreeOnlyToAEAD(t *testing.T) {
	c := newCLI(t)
	agentAddr := freePort(t)
	c.env["NEXPLANE_AGENT_LISTEN"] = agentAddr
	base, _ := startServer(t, c)
	offers := []struct {
		name     string
		min, max uint16
		suites   []uint16
		ok       bool
	}{
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, nil, true},
		{"TLS 1.2 AES-GCM", tls.VersionTLS12, tls.VersionTLS12,
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, true},
		{"TLS 1.2 ChaCha20-Poly1305", tls.VersionTLS12, tls.VersionTLS12,
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}, true},
		{"TLS 1.2 CBC only", tls.VersionTLS12, tls.VersionTLS12, []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}, false},
		{"TLS 1.2 RSA key exchange only", tls.VersionTLS12, tls.VersionTLS12,
			[]uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}, false},
	}
	for name, addr := range map[string]string{"console and API": strings.TrimPrefix(base, "https://"), "agent listener": agentAddr} {
		for _, o := range offers {
			t.Run(name+"/"+o.name, func(t *testing.T) {
				conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, // the self-signed test server; the suite is what counts
					MinVersion: o.min, MaxVersion: o.max, CipherSuites: o.suites})
				if (err == nil) != o.ok {
					t.Fatalf("handshake err = %v, want ok=%v", err, o.ok)
				}
				if err != nil {
					return
				}
				defer conn.Close()
				if st := conn.ConnectionState(); st.Version != o.max {
					t.Errorf("agreed %s, want %s", tls.VersionName(st.Version), tls.VersionName(o.max))
				}
			})
		}
	}
}
