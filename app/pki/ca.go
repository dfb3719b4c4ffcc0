package pki

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Settings rows of the agent CA: the private key (PKCS#8 DER) sealed under
// SECRET_KEY, and the certificate (PEM, public).
const (
	CAKeySetting  = "pki.ca_key"
	CACertSetting = "pki.ca_cert"
)

const (
	// CAValidity is the CA's lifetime. Every agent trusts exactly this
	// certificate, so replacing it means re-enrolling every host: long.
	CAValidity = 20 * 365 * 24 * time.Hour
	// DefaultAgentCertValidity is an agent certificate's lifetime; agents
	// renew with a third of it left.
	DefaultAgentCertValidity = 365 * 24 * time.Hour
	// ServerCertValidity covers a long-running server; the listener's
	// certificate is made afresh at every start.
	ServerCertValidity = 397 * 24 * time.Hour
	// AgentCertOrganization is the O of every agent certificate.
	AgentCertOrganization = "Nexplane agents"
	// AgentCNPrefix starts the CN of every agent certificate: "agent:<id>".
	AgentCNPrefix = "agent:"
	// AgentKeyBits is the only key size accepted in agent CSRs (the
	// security model: RSA-2048 client keys made on the host).
	AgentKeyBits = 2048
	// backdate tolerates agents whose clock is a little behind ours.
	backdate = 5 * time.Minute
)

// CA is the internal certificate authority of the agent channel. Its key is
// ECDSA P-256: every agent handshake verifies a signature of it, and P-256
// verification is far cheaper than RSA's on the server side (see
// ARCHITECTURE.md's cost table). It is safe for concurrent use.
type CA struct {
	cert     *x509.Certificate
	certPEM  []byte
	key      *ecdsa.PrivateKey
	validity time.Duration
}

// keyAger is implemented by sealers that can tell an old key's output.
type keyAger interface{ NeedsRekey(sealed []byte) bool }

// LoadOrCreateCA returns the agent CA, creating it on first start. Two
// servers starting at once both generate one; CreateSetting (insert if
// absent) lets one win and the other adopts the stored CA. A key sealed
// under SECRET_KEY_PREVIOUS is re-sealed under the current key.
func LoadOrCreateCA(ctx context.Context, st app.Store, sealer app.Sealer, now time.Time) (*CA, error) {
	if sealer == nil {
		return nil, fmt.Errorf("pki: agent CA needs SECRET_KEY")
	}
	sealed, err := st.Setting(ctx, CAKeySetting)
	switch {
	case err == nil:
		return loadCA(ctx, st, sealer, sealed)
	case app.ErrCode(err) != app.ENOTFOUND:
		return nil, fmt.Errorf("pki: read agent CA key: %w", err)
	}
	ca, keyDER, err := newCA(now)
	if err != nil {
		return nil, err
	}
	mine, err := sealer.Seal(keyDER, app.SettingAD(CAKeySetting))
	clear(keyDER)
	if err != nil {
		return nil, fmt.Errorf("pki: seal agent CA key: %w", err)
	}
	var created bool
	err = st.WithTx(ctx, func(tx app.Tx) error {
		if created, err = tx.CreateSetting(ctx, CAKeySetting, mine); err != nil || !created {
			return err
		}
		// The certificate is written by the same winner in the same
		// transaction, so key and certificate always belong together.
		return tx.PutSetting(ctx, CACertSetting, ca.certPEM)
	})
	if err != nil {
		return nil, fmt.Errorf("pki: store agent CA: %w", err)
	}
	if created {
		return ca, nil
	}
	stored, err := st.Setting(ctx, CAKeySetting) // another starter won; use its CA
	if err != nil {
		return nil, fmt.Errorf("pki: read agent CA key: %w", err)
	}
	return loadCA(ctx, st, sealer, stored)
}

func newCA(now time.Time) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate agent CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Nexplane agent CA", Organization: []string{"Nexplane"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs leaves only
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create agent CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse agent CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: encode agent CA key: %w", err)
	}
	return &CA{cert: cert, certPEM: pemCert(der), key: key, validity: DefaultAgentCertValidity}, keyDER, nil
}

// loadCA opens the sealed key, reads the certificate and checks that they
// belong together: a certificate swapped in the database must not become
// what agents are told to trust.
func loadCA(ctx context.Context, st app.Store, sealer app.Sealer, sealed []byte) (*CA, error) {
	keyDER, err := sealer.Open(sealed, app.SettingAD(CAKeySetting))
	if err != nil {
		return nil, fmt.Errorf("pki: open agent CA key (setting %s): %w", CAKeySetting, err)
	}
	defer clear(keyDER)
	parsed, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("pki: parse agent CA key: %w", err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("pki: agent CA key is a %T, want ECDSA", parsed)
	}
	certPEM, err := st.Setting(ctx, CACertSetting)
	if err != nil {
		return nil, fmt.Errorf("pki: read agent CA certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("pki: setting %s is not a PEM certificate", CACertSetting)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: parse agent CA certificate: %w", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) || !cert.IsCA {
		return nil, fmt.Errorf("pki: agent CA certificate does not match its key")
	}
	if ager, ok := sealer.(keyAger); ok && ager.NeedsRekey(sealed) {
		if err := resealCAKey(ctx, st, sealer, sealed, keyDER); err != nil {
			return nil, err
		}
	}
	return &CA{cert: cert, certPEM: pemCert(cert.Raw), key: key, validity: DefaultAgentCertValidity}, nil
}

func resealCAKey(ctx context.Context, st app.Store, sealer app.Sealer, old, keyDER []byte) error {
	resealed, err := sealer.Seal(keyDER, app.SettingAD(CAKeySetting))
	if err != nil {
		return fmt.Errorf("pki: re-seal agent CA key: %w", err)
	}
	err = st.WithTx(ctx, func(tx app.Tx) error {
		cur, err := tx.Setting(ctx, CAKeySetting)
		if err != nil {
			return err
		}
		if !bytes.Equal(cur, old) {
			return nil // someone else re-sealed it meanwhile
		}
		return tx.PutSetting(ctx, CAKeySetting, resealed)
	})
	if err != nil {
		return fmt.Errorf("pki: store re-sealed agent CA key: %w", err)
	}
	return nil
}

// SetAgentValidity sets the lifetime of agent certificates issued from now
// on (NEXPLANE_AGENT_CERT_TTL; tests use minutes). Call it before serving.
func (ca *CA) SetAgentValidity(d time.Duration) {
	if d > 0 {
		ca.validity = d
	}
}

// AgentValidity is the lifetime of agent certificates.
func (ca *CA) AgentValidity() time.Duration { return ca.validity }

// Certificate is the parsed CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CAPEM is the CA certificate in PEM.
func (ca *CA) CAPEM() []byte { return bytes.Clone(ca.certPEM) }

// Fingerprint is the hex SHA-256 of the CA certificate's DER: what
// `nexplane-agent enroll --ca-sha256` pins on first contact.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert.Raw) }

// Fingerprint is the hex SHA-256 of a certificate's DER.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Pool holds the CA alone: the only issuer agent certificates may have.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// SignAgent implements app.AgentSigner with the configured validity.
func (ca *CA) SignAgent(csrDER []byte, agentID string, now time.Time) ([]byte, string, time.Time, error) {
	der, serial, notAfter, err := ca.Issue(csrDER, agentID, now, ca.validity)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	return pemCert(der), serial, notAfter, nil
}

// Issue checks an agent's CSR and returns a client certificate (DER) for
// agentID, valid from now (back-dated a little) for validity. Only the CSR's
// public key is used: the subject is "CN=agent:<id>, O=Nexplane agents",
// and the CSR's subject, names and extensions are ignored. Refusals are
// app EINVALID errors with a message for the agent's operator.
func (ca *CA) Issue(csrDER []byte, agentID string, now time.Time, validity time.Duration) (der []byte, serial string, notAfter time.Time, err error) {
	if agentID == "" || strings.ContainsAny(agentID, ",=+/\\\"<>;# ") {
		return nil, "", time.Time{}, fmt.Errorf("pki: agent id %q is not valid", agentID)
	}
	pub, err := CheckAgentCSR(csrDER)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	sn, err := randomSerial()
	if err != nil {
		return nil, "", time.Time{}, err
	}
	notAfter = now.Add(validity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: AgentCNPrefix + agentID, Organization: []string{AgentCertOrganization}},
		// Never backdate more than a tenth of the lifetime: agents renew at
		// a third of NotAfter-NotBefore left, and a short test lifetime
		// inflated by the full backdate would make them renew at once,
		// over and over.
		NotBefore:             now.Add(-min(backdate, validity/10)),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("pki: issue agent certificate: %w", err)
	}
	return der, SerialString(sn), notAfter.UTC(), nil
}

// CheckAgentCSR parses a CSR, verifies its self-signature (proof that the
// requester holds the key) and accepts only RSA-2048 keys.
func CheckAgentCSR(csrDER []byte) (*rsa.PublicKey, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "csr is not a valid PKCS#10 certificate request")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, app.Errorf(app.EINVALID, "csr signature does not verify")
	}
	pub, ok := csr.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, app.Errorf(app.EINVALID, "csr key must be RSA-%d, not %s", AgentKeyBits, keyKind(csr.PublicKey))
	}
	if n := pub.N.BitLen(); n != AgentKeyBits {
		return nil, app.Errorf(app.EINVALID, "csr key must be RSA-%d, not RSA-%d", AgentKeyBits, n)
	}
	if pub.E != 65537 {
		return nil, app.Errorf(app.EINVALID, "csr key must use the public exponent 65537")
	}
	return pub, nil
}

func keyKind(pub any) string {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return "an unsupported key type"
	}
}

// SerialString is how serials are written in the database and audit log:
// lower-case hex without leading zeros.
func SerialString(sn *big.Int) string { return sn.Text(16) }

// randomSerial is 128 random bits, never zero (serials must be positive).
func randomSerial() (*big.Int, error) {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("pki: random serial: %w", err)
		}
		if sn := new(big.Int).SetBytes(b[:]); sn.Sign() > 0 {
			return sn, nil
		}
	}
}

// ServerCert makes the agent listener's ECDSA P-256 certificate, signed by
// the CA, for hosts (DNS names or IP addresses). The chain includes the CA
// so that an agent pinning the CA fingerprint finds it in the handshake.
// It is made at every start and never stored.
func (ca *CA) ServerCert(hosts []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: generate agent listener key: %w", err)
	}
	sn, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "Nexplane agent listener", Organization: []string{"Nexplane"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(ServerCertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	if tmpl.NotAfter.After(ca.cert.NotAfter) {
		tmpl.NotAfter = ca.cert.NotAfter
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: create agent listener certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: parse agent listener certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// AgentListenerHosts are the names the agent listener's certificate covers:
// localhost, the loopback addresses, this host's name and extra
// (NEXPLANE_AGENT_HOSTNAMES), without duplicates.
func AgentListenerHosts(extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	names = append(names, extra...)
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
