// Package tlspolicy is the one TLS policy of every TLS connection Nexplane
// accepts (the HTTPS console and API, the agent listener) or opens to a
// target (LDAP): TLS 1.3, or TLS 1.2 with forward-secret AEAD suites only
// (ECDHE with AES-GCM or ChaCha20-Poly1305). CBC suites, with their history
// of padding-oracle attacks, and static-RSA key exchange are never agreed.
package tlspolicy

import "crypto/tls"

// MinVersion is the oldest protocol version agreed.
const MinVersion = tls.VersionTLS12

// cipherSuites are the TLS 1.2 suites agreed. TLS 1.3's suites are all AEAD
// and Go does not let them be configured.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns the TLS 1.2 suites the policy allows (a copy).
func CipherSuites() []uint16 { return append([]uint16(nil), cipherSuites...) }

// Apply sets the policy's versions and suites on c and returns it, so a
// caller writes tlspolicy.Apply(&tls.Config{...}).
func Apply(c *tls.Config) *tls.Config {
	c.MinVersion = MinVersion
	c.CipherSuites = CipherSuites()
	return c
}
