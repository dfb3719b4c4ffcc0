package ldap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// TestConnectRefusesCBCOnlyServer: the client side keeps the AEAD-only
// policy too. A directory (or someone posing as it) that offers only CBC
// suites at TLS 1.2 fails the handshake, before the bind password is sent.
func TestConnectRefusesCBCOnlyServer(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	handshake := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			handshake <- err
			return
		}
		defer c.Close()
		handshake <- c.(*tls.Conn).Handshake()
	}()

	cfg, err := json.Marshal(map[string]any{"url": "ldaps://" + ln.Addr().String(), "tls_skip_verify": true,
		"bind_dn": "cn=nexplane,ou=services,dc=example,dc=org", "base_dn": "dc=example,dc=org",
		"user_base": "ou=people,dc=example,dc=org", "group_base": "ou=groups,dc=example,dc=org"})
	if err != nil {
		t.Fatal(err)
	}
	err = connectErr(t, cfg, []byte(`{"bind_password":"never-sent-over-cbc"}`))
	if app.ErrCode(err) != app.EUNAVAILABLE || !strings.Contains(app.ErrMessage(err), "TLS handshake with ldaps://"+ln.Addr().String()+" failed") {
		t.Errorf("err = %v, want the TLS handshake refused", err)
	}
	if err := <-handshake; err == nil {
		t.Error("the server completed a handshake with only CBC suites")
	}
}
