package tlspolicy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCAPEM returns the certificates of a pasted CA bundle. It refuses
// anything but certificates, so a pasted private key is caught (and never
// echoed); its messages never quote the input.
func ParseCAPEM(s string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("contains a %q block; paste only CA certificates", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d does not parse: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("contains no PEM certificate")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("has data after the last certificate that is not PEM")
	}
	return certs, nil
}

// Client is the policy's client config for serverName. A non-empty caPEM
// pins the server's issuer: only those CAs are trusted, not the system
// pool, so a certificate from any other CA is refused.
func Client(serverName, caPEM string) (*tls.Config, error) {
	tc := Apply(&tls.Config{ServerName: serverName})
	if caPEM == "" {
		return tc, nil
	}
	certs, err := ParseCAPEM(caPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	tc.RootCAs = pool
	return tc, nil
}
