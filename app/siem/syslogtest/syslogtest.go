// Package syslogtest starts a real, throw-away rsyslogd that receives syslog
// over TLS (RFC 5425) on a loopback port and writes each message's MSGID and
// MSG, verbatim, one line each, to a file the test reads.
//
// It needs the Debian packages rsyslog and rsyslog-gnutls. When rsyslogd is
// missing the test is skipped loudly, unless NEXPLANE_REQUIRE_INTEGRATION=1,
// which turns the skip into a failure (CI).
package syslogtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Path is the rsyslogd binary (NEXPLANE_RSYSLOGD overrides it).
func Path() string {
	if p := os.Getenv("NEXPLANE_RSYSLOGD"); p != "" {
		return p
	}
	return "/usr/sbin/rsyslogd"
}

// Server is one rsyslogd process; Kill and Start again keep its port.
type Server struct {
	Addr   string // 127.0.0.1:port
	CAFile string // the CA that signed the server certificate (PEM)
	dir    string
	out    string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	stderr bytes.Buffer
}

// URL is the NEXPLANE_SYSLOG_URL of this server.
func (s *Server) URL() string { return "tcp+tls://" + s.Addr }

// Start runs a fresh rsyslogd and stops it in tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := Path()
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("SKIP syslog tests: %s not found; apt-get install rsyslog rsyslog-gnutls (Debian/Ubuntu) to run them", bin)
		if os.Getenv("NEXPLANE_REQUIRE_INTEGRATION") == "1" {
			tb.Fatal(msg + " [NEXPLANE_REQUIRE_INTEGRATION=1]")
		}
		fmt.Fprintln(os.Stderr, "*** "+msg+" ***")
		tb.Skip(msg)
	}
	dir := tb.TempDir()
	s := &Server{dir: dir, out: filepath.Join(dir, "received.log"), CAFile: filepath.Join(dir, "ca.pem")}
	if err := writeCerts(dir); err != nil {
		tb.Fatalf("syslogtest: certificates: %v", err)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a probed free port can be taken before rsyslogd binds it
		if s.Addr, err = freeAddr(); err != nil {
			tb.Fatal(err)
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("syslogtest: %v", err)
	}
	tb.Cleanup(s.Kill)
	return s
}

// Restart starts rsyslogd again on the same port after Kill.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.start(); err != nil {
		tb.Fatalf("syslogtest: restart: %v", err)
	}
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	// Direct queue and a flush per batch: what rsyslogd has acknowledged
	// to itself is in the file, so only bytes still in flight die with it.
	conf := fmt.Sprintf(`global(workDirectory=%[1]q maxMessageSize="256k"
  DefaultNetstreamDriverCAFile=%[2]q
  DefaultNetstreamDriverCertFile=%[3]q
  DefaultNetstreamDriverKeyFile=%[4]q)
main_queue(queue.type="Direct")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port=%[5]q address="127.0.0.1")
template(name="verbatim" type="string" string="%%msgid%% %%msg%%\n")
action(type="omfile" file=%[6]q template="verbatim" flushOnTXEnd="on")
`, s.dir, s.CAFile, filepath.Join(s.dir, "server.pem"), filepath.Join(s.dir, "server.key"), port, s.out)
	confPath := filepath.Join(s.dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	s.mu.Lock()
	s.stderr.Reset()
	cmd := exec.Command(Path(), "-n", "-f", confPath, "-i", filepath.Join(s.dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &s.stderr, &s.stderr
	s.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start rsyslogd: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("rsyslogd exited during start-up:\n%s", s.errors())
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("rsyslogd did not listen on %s within 10s:\n%s", s.Addr, s.errors())
		}
		time.Sleep(10 * time.Millisecond) // polling for the listener, not a fixed wait
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

func (s *Server) errors() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// Kill stops rsyslogd with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Message is one received syslog message.
type Message struct {
	MsgID string
	Msg   string
}

// Messages returns what rsyslogd has written so far, in arrival order; a
// line it is still writing is left for the next call.
func (s *Server) Messages() ([]Message, error) {
	b, err := os.ReadFile(s.out)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var out []Message
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		id, msg, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		out = append(out, Message{MsgID: id, Msg: msg})
	}
	return out, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// writeCerts writes a CA (ca.pem) and a server certificate for 127.0.0.1
// signed by it (server.pem, server.key).
func writeCerts(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslogtest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for name, b := range map[string]*pem.Block{"ca.pem": {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: der}, "server.key": {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			return err
		}
	}
	return nil
}
