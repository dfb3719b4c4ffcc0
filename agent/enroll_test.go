package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func enrollOpts(fs *fakeServer, dir string) EnrollOptions {
	return EnrollOptions{Server: fs.URL, Token: "good-token", CASHA256: fs.fingerprint(), StateDir: dir, Hostname: "host-a"}
}

func TestEnroll(t *testing.T) {
	fs := newFakeServer(t, true)
	dir := filepath.Join(t.TempDir(), "state")
	id, err := Enroll(context.Background(), enrollOpts(fs, dir))
	if err != nil {
		t.Fatal(err)
	}
	if id.AgentID != "agent-1" || id.Server != fs.URL || id.CASHA256 != fs.fingerprint() {
		t.Errorf("identity %+v", id)
	}
	if fi, err := os.Stat(filepath.Join(dir, keyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode: %v", err)
	}
	st, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.cert.Leaf.Subject.CommonName != "agent-1" || !st.ca.Equal(fs.ca.cert) {
		t.Errorf("stored cert %s", st.cert.Leaf.Subject)
	}
	// Enrolling again is refused unless forced.
	if _, err := Enroll(context.Background(), enrollOpts(fs, dir)); err == nil || !strings.Contains(err.Error(), "already enrolled") {
		t.Errorf("second enroll: %v", err)
	}
	o := enrollOpts(fs, dir)
	o.Force = true
	if _, err := Enroll(context.Background(), o); err != nil {
		t.Errorf("forced enroll: %v", err)
	}
}

func TestEnrollRefused(t *testing.T) {
	fs := newFakeServer(t, true)
	other := newTestCA(t)
	noCA := newFakeServer(t, false)
	for name, tc := range map[string]struct {
		mod  func(*EnrollOptions)
		want string
	}{
		"wrong fingerprint": {func(o *EnrollOptions) { o.CASHA256 = CertFingerprint(other.cert) }, "does not contain the CA"},
		"CA not in chain":   {func(o *EnrollOptions) { o.Server, o.CASHA256 = noCA.URL, noCA.fingerprint() }, "does not contain the CA"},
		"wrong host name":   {func(o *EnrollOptions) { o.Server = strings.Replace(fs.URL, "127.0.0.1", "localhost", 1) }, "does not verify against the pinned CA"},
		"bad token":         {func(o *EnrollOptions) { o.Token = "used" }, "invalid or used token"},
		"empty token":       {func(o *EnrollOptions) { o.Token = " " }, "token is empty"},
		"bad fingerprint":   {func(o *EnrollOptions) { o.CASHA256 = "abc" }, "not a hex SHA-256"},
		"http server":       {func(o *EnrollOptions) { o.Server = "http://127.0.0.1:1" }, "https://"},
	} {
		dir := filepath.Join(t.TempDir(), "state")
		o := enrollOpts(fs, dir)
		tc.mod(&o)
		_, err := Enroll(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
		if _, err := os.Stat(filepath.Join(dir, identityFile)); err == nil {
			t.Errorf("%s: identity written", name)
		}
	}
	if fs.enrolls != 0 || noCA.enrolls != 0 {
		t.Errorf("server received %d enrollments through refused handshakes", fs.enrolls+noCA.enrolls)
	}
}

// TestVerifyPinnedImpostor: a man in the middle can replay the real CA
// certificate in its chain, but its own leaf does not verify against it.
func TestVerifyPinnedImpostor(t *testing.T) {
	real, evil := newTestCA(t), newTestCA(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER := evil.issue(&key.PublicKey, "impostor", time.Hour, x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1))
	leaf, _ := x509.ParseCertificate(leafDER)
	pin, _ := ParseFingerprint(CertFingerprint(real.cert))
	if _, err := verifyPinned([]*x509.Certificate{leaf, real.cert}, "127.0.0.1", pin); err == nil {
		t.Fatal("impostor leaf accepted")
	}
	good, _ := x509.ParseCertificate(real.issue(&key.PublicKey, "srv", time.Hour, x509.ExtKeyUsageServerAuth, net.IPv4(127, 0, 0, 1)))
	if _, err := verifyPinned([]*x509.Certificate{good, real.cert}, "127.0.0.1", pin); err != nil {
		t.Fatalf("good chain refused: %v", err)
	}
	// A client-auth-only leaf is not a server certificate.
	cli, _ := x509.ParseCertificate(real.issue(&key.PublicKey, "srv", time.Hour, x509.ExtKeyUsageClientAuth, net.IPv4(127, 0, 0, 1)))
	if _, err := verifyPinned([]*x509.Certificate{cli, real.cert}, "127.0.0.1", pin); err == nil {
		t.Fatal("client-auth leaf accepted as server")
	}
}

func TestParseFingerprintAndServer(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	colons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	for _, s := range []string{hex, strings.ToUpper(hex), colons, "sha256:" + hex, " " + hex + "\n"} {
		if _, err := ParseFingerprint(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "ab", hex + "ab", strings.Repeat("zz", 32)} {
		if _, err := ParseFingerprint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	for in, want := range map[string]string{
		"https://np.example":       "https://np.example:8444",
		"https://np.example:9000/": "https://np.example:9000",
		"https://[::1]":            "https://[::1]:8444",
		"https://10.0.0.1:8444":    "https://10.0.0.1:8444",
		"http://np.example":        "",
		"https://np.example/api":   "",
		"np.example:8444":          "",
		"https://u:p@np.example":   "",
		"https://np.example/?x=1":  "",
	} {
		got, err := NormalizeServer(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("NormalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestStatus(t *testing.T) {
	fs := newFakeServer(t, true)
	dir := t.TempDir()
	if _, err := Enroll(context.Background(), enrollOpts(fs, dir)); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	rep, err := Status(context.Background(), StatusOptions{StateDir: dir, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if rep.AgentID != "agent-1" || rep.Subject != "CN=agent-1" || rep.Serial == "" || rep.Remaining < 50*time.Minute || rep.Connectivity != nil {
		t.Errorf("status %+v", rep)
	}
	fs.Close()
	rep, err = Status(context.Background(), StatusOptions{StateDir: dir, Root: root, Timeout: 2 * time.Second})
	if err != nil || rep.Connectivity == nil {
		t.Errorf("status with server down: %+v %v", rep, err)
	}
}
