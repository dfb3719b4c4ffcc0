package agent

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/pki"
)

func TestEnroll(t *testing.T) {
	srv := newTestServer(t, serverOptions{})
	dir := filepath.Join(t.TempDir(), "state")
	o := srv.enrollOpts(t, dir)
	id, err := Enroll(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !app.ValidAgentID(id.AgentID) || id.Server != srv.URL || id.CASHA256 != srv.fingerprint() {
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
	if st.cert.Leaf.Subject.CommonName != pki.AgentCNPrefix+id.AgentID || !st.ca.Equal(srv.ca.Certificate()) {
		t.Errorf("stored cert %s", st.cert.Leaf.Subject)
	}
	// The server recorded the agent with the certificate the agent holds.
	row := srv.agent(t, id.AgentID)
	if row.Hostname != "host-a" || row.Labels["env"] != "test" || row.Revoked ||
		row.CertSerial != pki.SerialString(st.cert.Leaf.SerialNumber) {
		t.Errorf("server's agent record %+v", row)
	}

	// Enrolling again is refused unless forced.
	if _, err := Enroll(context.Background(), srv.enrollOpts(t, dir)); err == nil || !strings.Contains(err.Error(), "already enrolled") {
		t.Errorf("second enroll: %v", err)
	}
	// Forced with the token already used: the server refuses, and the
	// enrollment on disk stays as it was.
	o.Force = true
	if _, err := Enroll(context.Background(), o); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Errorf("forced enroll with a used token: %v", err)
	}
	if kept, err := loadState(dir); err != nil || kept.id.AgentID != id.AgentID {
		t.Errorf("state after refused enroll: %v", err)
	}
	o = srv.enrollOpts(t, dir)
	o.Force = true
	again, err := Enroll(context.Background(), o)
	if err != nil {
		t.Fatalf("forced enroll: %v", err)
	}
	if again.AgentID == id.AgentID {
		t.Error("forced enrollment kept the old agent id")
	}
	if st, err := loadState(dir); err != nil || st.id.AgentID != again.AgentID ||
		st.cert.Leaf.Subject.CommonName != pki.AgentCNPrefix+again.AgentID {
		t.Errorf("state after forced enroll: %v", err)
	}
}

func TestEnrollRefused(t *testing.T) {
	srv := newTestServer(t, serverOptions{})
	other, _, _ := newAgentCA(t)
	// The same listener configuration on an address its certificate does
	// not name (127.0.0.0/8 is all loopback on Linux).
	elsewhere := newTestServer(t, serverOptions{listen: "127.0.0.2:0"})
	used := srv.enrollOpts(t, filepath.Join(t.TempDir(), "state"))
	if _, err := Enroll(context.Background(), used); err != nil {
		t.Fatal(err)
	}
	// tok is offered in every refused handshake; it must stay unused.
	tok := srv.token(t)
	for name, tc := range map[string]struct {
		mod           func(*EnrollOptions)
		want          string
		reachesServer bool
	}{
		"wrong fingerprint": {func(o *EnrollOptions) { o.CASHA256 = other.Fingerprint() }, "does not contain the CA", false},
		"wrong host name": {func(o *EnrollOptions) {
			o.Server, o.CASHA256, o.Token = elsewhere.URL, elsewhere.fingerprint(), elsewhere.token(t)
		}, "does not verify against the pinned CA", false},
		"bad token":       {func(o *EnrollOptions) { o.Token = "not-a-token" }, "invalid, expired or already used", true},
		"used token":      {func(o *EnrollOptions) { o.Token = used.Token }, "invalid, expired or already used", true},
		"empty token":     {func(o *EnrollOptions) { o.Token = " " }, "token is empty", false},
		"bad fingerprint": {func(o *EnrollOptions) { o.CASHA256 = "abc" }, "not a hex SHA-256", false},
		"http server":     {func(o *EnrollOptions) { o.Server = "http://127.0.0.1:1" }, "https://", false},
	} {
		dir := filepath.Join(t.TempDir(), "state")
		o := EnrollOptions{Server: srv.URL, Token: tok, CASHA256: srv.fingerprint(), StateDir: dir, Hostname: "host-a"}
		tc.mod(&o)
		before := srv.requests.Load()
		_, err := Enroll(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
		if _, err := os.Stat(filepath.Join(dir, identityFile)); err == nil {
			t.Errorf("%s: identity written", name)
		}
		if n := srv.requests.Load() - before; !tc.reachesServer && n != 0 {
			t.Errorf("%s: %d requests reached the server", name, n)
		}
	}
	if n := elsewhere.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server through a handshake with the wrong name", n)
	}
	// Nothing was sent with tok: it still enrolls.
	o := EnrollOptions{Server: srv.URL, Token: tok, CASHA256: srv.fingerprint(), StateDir: t.TempDir(), Hostname: "host-a"}
	if _, err := Enroll(context.Background(), o); err != nil {
		t.Errorf("token offered only in refused handshakes: %v", err)
	}
}

// TestVerifyPinnedImpostor: a man in the middle can replay the real CA
// certificate in its chain, but its own leaf does not verify against it.
// Real agent CAs make every certificate here.
func TestVerifyPinnedImpostor(t *testing.T) {
	real, _, _ := newAgentCA(t)
	evil, _, _ := newAgentCA(t)
	hosts := []string{"127.0.0.1"}
	impostor, err := evil.ServerCert(hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pin, _ := ParseFingerprint(real.Fingerprint())
	if _, err := verifyPinned([]*x509.Certificate{impostor.Leaf, real.Certificate()}, "127.0.0.1", pin); err == nil {
		t.Fatal("impostor leaf accepted")
	}
	good, err := real.ServerCert(hosts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifyPinned([]*x509.Certificate{good.Leaf, real.Certificate()}, "127.0.0.1", pin); err != nil {
		t.Fatalf("good chain refused: %v", err)
	}
	// A chain without the CA. The agent listener always sends its CA
	// (pki.CA.ServerCert), so this is checked here rather than over TLS.
	if _, err := verifyPinned([]*x509.Certificate{good.Leaf}, "127.0.0.1", pin); err == nil || !strings.Contains(err.Error(), "does not contain the CA") {
		t.Fatalf("chain without the CA: %v", err)
	}
	// An agent's (client-auth) certificate is not a server certificate.
	_, csr, err := newKey("srv")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(csr)
	der, _, _, err := real.Issue(blk.Bytes, "0123456789abcdef", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := x509.ParseCertificate(der)
	if _, err := verifyPinned([]*x509.Certificate{cli, real.Certificate()}, "127.0.0.1", pin); err == nil {
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
	srv := newTestServer(t, serverOptions{})
	dir := t.TempDir()
	id := srv.enroll(t, dir)
	root := passwdRoot(t)
	rep, err := Status(context.Background(), StatusOptions{StateDir: dir, Root: root, AgentVersion: "t2"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.AgentID != id.AgentID || rep.Server != srv.URL || rep.Subject != "CN=agent:"+id.AgentID+",O=Nexplane agents" ||
		rep.Serial != srv.agent(t, id.AgentID).CertSerial || rep.Remaining < 50*time.Minute || rep.Connectivity != nil {
		t.Errorf("status %+v", rep)
	}
	// Its heartbeat reached the server.
	if row := srv.agent(t, id.AgentID); row.LastSeen.IsZero() || row.Version != "t2" {
		t.Errorf("server saw no heartbeat: %+v", row)
	}
	srv.close()
	rep, err = Status(context.Background(), StatusOptions{StateDir: dir, Root: root, Timeout: 2 * time.Second})
	if err != nil || rep.Connectivity == nil {
		t.Errorf("status with server down: %+v %v", rep, err)
	}
}

// passwdRoot is a system root with just enough for a heartbeat.
func passwdRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}
