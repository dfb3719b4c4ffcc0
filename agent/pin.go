package agent

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ParseFingerprint accepts the CA fingerprint as the server prints it: hex
// SHA-256 of the DER, with or without colons or a "sha256:" prefix.
func ParseFingerprint(s string) ([]byte, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, "sha256:")
	h = strings.ReplaceAll(h, ":", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("CA fingerprint %q is not a hex SHA-256 (64 hex digits)", s)
	}
	return b, nil
}

// CertFingerprint is the hex SHA-256 of a certificate's DER.
func CertFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// pinnedTLSConfig trusts exactly the CA whose fingerprint is pinned. The
// agent has no CA file before enrollment, so standard verification is
// switched off and replaced by VerifyConnection: the server must present
// the pinned CA in its chain, and the leaf must verify against it as the
// only root for serverName. Nothing is sent before this check passes.
func pinnedTLSConfig(serverName string, pin []byte) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         serverName,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPinned(cs.PeerCertificates, serverName, pin)
			return err
		},
	}
}

// verifyPinned returns the pinned CA found in chain after checking the
// leaf against it.
func verifyPinned(chain []*x509.Certificate, serverName string, pin []byte) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("server presented no certificate")
	}
	var ca *x509.Certificate
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		sum := sha256.Sum256(c.Raw)
		if bytes.Equal(sum[:], pin) {
			ca = c
		} else {
			inter.AddCert(c)
		}
	}
	if ca == nil {
		return nil, fmt.Errorf("server's certificate chain does not contain the CA with fingerprint %s (wrong server or wrong --ca-sha256; the server must send its CA certificate in the chain)", hex.EncodeToString(pin))
	}
	if !ca.IsCA || !ca.BasicConstraintsValid {
		return nil, errors.New("the pinned certificate is not a CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := chain[0].Verify(x509.VerifyOptions{
		DNSName: serverName, Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("server certificate does not verify against the pinned CA: %w", err)
	}
	return ca, nil
}

// mtlsConfig is the channel after enrollment: the stored CA is the only
// root, and the client certificate is read from holder at each handshake so
// a renewal takes effect on the next connection without a restart.
func mtlsConfig(ca *x509.Certificate, serverName string, holder *certHolder) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return holder.Load(), nil
		},
	}
}
