package agent

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultStateDir holds the agent's key, certificates and memory.
const DefaultStateDir = "/var/lib/nexplane-agent"

// Files in the state dir.
const (
	keyFile      = "key.pem"
	certFile     = "cert.pem"
	caFile       = "ca.pem"
	identityFile = "agent.json"
	finishedFile = "finished.json"
	newSuffix    = ".new" // renewal staging, see commitRenewal
)

// Identity is what enrollment leaves in agent.json.
type Identity struct {
	AgentID    string    `json:"agent_id"`
	Server     string    `json:"server"`
	CASHA256   string    `json:"ca_sha256"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// state is a loaded state dir.
type state struct {
	dir  string
	id   Identity
	cert tls.Certificate // key + leaf, Leaf set
	ca   *x509.Certificate
}

// ErrNotEnrolled is returned when the state dir holds no identity.
var ErrNotEnrolled = errors.New("not enrolled: run nexplane-agent enroll first")

func loadState(dir string) (*state, error) {
	if err := recoverRenewal(dir); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, identityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (no %s in %s)", ErrNotEnrolled, identityFile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	st := &state{dir: dir}
	if err := json.Unmarshal(b, &st.id); err != nil {
		return nil, fmt.Errorf("parse %s: %w", identityFile, err)
	}
	if st.cert, err = tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile)); err != nil {
		return nil, fmt.Errorf("load key pair: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	if st.ca, err = parseCertPEM(caPEM); err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	return st, nil
}

// parseCertPEM parses the first CERTIFICATE block.
func parseCertPEM(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM certificate")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// newKey makes the agent's RSA-2048 key (the size the security model fixes)
// and a CSR for it. The subject is a hint; the server picks the real one.
func newKey(hostname string) (*rsa.PrivateKey, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.CertificateRequest{}
	tmpl.Subject.CommonName = hostname
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func keyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFileAtomic replaces path with data: temp file in the same dir,
// fsync, rename, dir fsync. Readers see the old or the new file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil { // umask must not widen or narrow it
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// commitRenewal installs a renewed key pair. Two files cannot be replaced
// in one step, so both are staged as *.new first, then key, then cert are
// renamed; recoverRenewal finishes or discards an interrupted commit so the
// key and the certificate on disk always match.
func commitRenewal(dir string, key, cert []byte) error {
	k, c := filepath.Join(dir, keyFile), filepath.Join(dir, certFile)
	if err := writeFileAtomic(k+newSuffix, key, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(c+newSuffix, cert, 0o644); err != nil {
		return err
	}
	if err := os.Rename(k+newSuffix, k); err != nil {
		return err
	}
	if err := os.Rename(c+newSuffix, c); err != nil {
		return err
	}
	return syncDir(dir)
}

func recoverRenewal(dir string) error {
	k, c := filepath.Join(dir, keyFile), filepath.Join(dir, certFile)
	_, kerr := os.Stat(k + newSuffix)
	_, cerr := os.Stat(c + newSuffix)
	switch {
	case kerr == nil:
		// The key was never moved: the old pair is intact and still valid.
		_ = os.Remove(c + newSuffix)
		return os.Remove(k + newSuffix)
	case cerr == nil:
		// The new key is in place; its certificate must follow.
		if err := os.Rename(c+newSuffix, c); err != nil {
			return fmt.Errorf("finish interrupted renewal: %w", err)
		}
	}
	return nil
}
