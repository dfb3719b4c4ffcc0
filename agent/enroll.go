package agent

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// EnrollOptions configure Enroll.
type EnrollOptions struct {
	Server   string // https://host[:port]; port defaults to 8444
	Token    string // single-use enrollment token
	CASHA256 string // hex SHA-256 of the CA certificate's DER
	StateDir string // default DefaultStateDir
	Hostname string // default os.Hostname()
	// Force replaces an existing enrollment in StateDir.
	Force   bool
	Timeout time.Duration // whole exchange; default 30 s
	Logger  *slog.Logger
}

// Enroll makes a key pair on this host, sends a CSR with the token to the
// server over TLS pinned to the CA fingerprint, checks what comes back and
// stores key, certificate, CA and identity in the state dir. The private
// key never leaves the host.
func Enroll(ctx context.Context, o EnrollOptions) (Identity, error) {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	server, err := NormalizeServer(o.Server)
	if err != nil {
		return Identity{}, err
	}
	pin, err := ParseFingerprint(o.CASHA256)
	if err != nil {
		return Identity{}, err
	}
	if strings.TrimSpace(o.Token) == "" {
		return Identity{}, errors.New("enrollment token is empty")
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return Identity{}, fmt.Errorf("state dir: %w", err)
	}
	if _, err := os.Stat(filepath.Join(o.StateDir, identityFile)); err == nil && !o.Force {
		return Identity{}, fmt.Errorf("already enrolled (%s exists); remove the state dir or pass --force to enroll again", filepath.Join(o.StateDir, identityFile))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Identity{}, fmt.Errorf("state dir: %w", err)
	}
	host := o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	key, csr, err := newKey(host)
	if err != nil {
		return Identity{}, err
	}

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	c := newClient(server, pinnedTLSConfig(serverName(server), pin))
	defer c.closeIdle()
	log.Info("enrolling", "server", server)
	var resp ops.EnrollResponse
	if err := c.do(ctx, "POST", ops.PathEnroll, ops.EnrollRequest{Token: o.Token, CSR: string(csr), Hostname: host}, &resp); err != nil {
		return Identity{}, fmt.Errorf("enroll: %w", err)
	}
	// The CA in the answer must be the pinned one: a server must not swap
	// in another CA after passing the handshake.
	ca, err := parseCertPEM([]byte(resp.CA))
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: CA in response: %w", err)
	}
	if sum := sha256.Sum256(ca.Raw); !bytes.Equal(sum[:], pin) {
		return Identity{}, errors.New("enroll: CA in response is not the pinned CA")
	}
	leaf, err := checkIssued(resp.Certificate, ca, &key.PublicKey)
	if err != nil {
		return Identity{}, fmt.Errorf("enroll: %w", err)
	}
	if strings.TrimSpace(resp.AgentID) == "" {
		return Identity{}, errors.New("enroll: server returned no agent id")
	}

	kp, err := keyPEM(key)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{AgentID: resp.AgentID, Server: server, CASHA256: CertFingerprint(ca), EnrolledAt: time.Now().UTC()}
	// The identity file goes last: its presence means "enrolled".
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{keyFile, kp, 0o600},
		{certFile, []byte(resp.Certificate), 0o644},
		{caFile, []byte(resp.CA), 0o644},
		{identityFile, mustJSON(id), 0o644},
	} {
		if err := writeFileAtomic(filepath.Join(o.StateDir, f.name), f.data, f.mode); err != nil {
			return Identity{}, fmt.Errorf("store %s: %w", f.name, err)
		}
	}
	log.Info("enrolled", "agent_id", id.AgentID, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	return id, nil
}

// checkIssued verifies a certificate the server issued: it chains to the
// CA for client auth and carries our public key.
func checkIssued(certPEM string, ca *x509.Certificate, pub *rsa.PublicKey) (*x509.Certificate, error) {
	leaf, err := parseCertPEM([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("certificate in response: %w", err)
	}
	if !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("issued certificate is not for this agent's key")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("issued certificate does not verify against the CA: %w", err)
	}
	return leaf, nil
}
