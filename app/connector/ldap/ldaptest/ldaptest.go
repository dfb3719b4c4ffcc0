// Package ldaptest starts a real, throw-away OpenLDAP slapd for tests.
//
// Tests against a real directory catch what mocks cannot: schema checks
// (groupOfNames needs a member), ACLs, ppolicy behaviour, server-side
// password hashing, DN normalisation and TLS. Each Start gets its own slapd
// process, port, database and CA in tb.TempDir(), so tests may run in
// parallel and mutate freely.
//
// It needs the Debian package slapd (/usr/sbin/slapd, OpenLDAP 2.5). When the
// binary is missing the test is skipped loudly, unless
// NEXPLANE_REQUIRE_INTEGRATION=1, which turns the skip into a failure (CI).
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
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

	"github.com/go-ldap/ldap/v3"
)

// Fixed names of the seeded directory.
const (
	BaseDN      = "dc=example,dc=org"
	RootDN      = "cn=admin,dc=example,dc=org"
	UserBase    = "ou=people,dc=example,dc=org"
	GroupBase   = "ou=groups,dc=example,dc=org"
	ServiceBase = "ou=services,dc=example,dc=org"
	// BindDN is the non-root service account a connector binds as. Unlike the
	// rootdn it is a real entry, so its password can be changed with the
	// Password Modify extended operation (credential rotation).
	BindDN = "cn=nexplane,ou=services,dc=example,dc=org"
	// PolicyDN is the default ppolicy (pwdLockout TRUE, so that
	// pwdAccountLockedTime actually locks accounts).
	PolicyDN = "cn=default,ou=policies,dc=example,dc=org"
)

// Server is a running slapd seeded with:
//
//	dc=example,dc=org
//	  ou=people:   uid=alice (cn=Alice Doe), uid=bob (cn=Bob Roe), inetOrgPerson
//	  ou=groups:   cn=admins {alice}, cn=devs {alice, bob}  (groupOfNames)
//	  ou=services: cn=nexplane (bind account, write access to people and groups,
//	               no size limit on paged searches)
//	  ou=policies: cn=default (pwdPolicy, pwdLockout TRUE)
type Server struct {
	URL          string // ldap://127.0.0.1:port (StartTLS available)
	LDAPSURL     string // ldaps://127.0.0.1:port2
	BaseDN       string
	BindDN       string // the service account, not the rootdn
	BindPassword string
	RootDN       string
	RootPassword string
	UserBase     string
	GroupBase    string
	// CAPEM is the PEM of the CA that signed the server certificate (issued
	// for 127.0.0.1 and localhost).
	CAPEM []byte
	// UserPasswords holds the seeded users' passwords by uid.
	UserPasswords map[string]string
	// Version is the first line of `slapd -VV`.
	Version string

	cmd      *exec.Cmd
	waitExit chan error // receives cmd.Wait's result once
	stopOnce sync.Once
	stderr   *lockedBuffer
}

// SlapdPath is where Debian installs slapd; NEXPLANE_SLAPD overrides it.
func SlapdPath() string {
	if p := os.Getenv("NEXPLANE_SLAPD"); p != "" {
		return p
	}
	return "/usr/sbin/slapd"
}

// Options turns on directory features that only some tests need, so the
// others keep the plain configuration they were written against.
type Options struct {
	// MemberOf loads the memberof overlay: users get an operational
	// memberOf attribute listing the groupOfNames they are members of.
	MemberOf bool
	// ADSchema adds a small test schema with Active Directory's
	// userAccountControl, objectGUID and sAMAccountName attributes (AD's
	// OIDs) on an auxiliary class "adTestUser", so AD-style login rules can
	// be tested against slapd.
	ADSchema bool
}

// Start runs a fresh slapd and stops it in tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartWith is Start with optional features.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin := SlapdPath()
	if _, err := os.Stat(bin); err != nil {
		msg := fmt.Sprintf("SKIP LDAP tests: %s not found; apt-get install slapd (Debian/Ubuntu) to run them", bin)
		if os.Getenv("NEXPLANE_REQUIRE_INTEGRATION") == "1" {
			tb.Fatal(msg + " [NEXPLANE_REQUIRE_INTEGRATION=1]")
		}
		fmt.Fprintln(os.Stderr, "*** "+msg+" ***")
		tb.Skip(msg)
	}

	dir := tb.TempDir()
	s := &Server{
		BaseDN:        BaseDN,
		BindDN:        BindDN,
		BindPassword:  randomPassword(),
		RootDN:        RootDN,
		RootPassword:  randomPassword(),
		UserBase:      UserBase,
		GroupBase:     GroupBase,
		UserPasswords: map[string]string{"alice": randomPassword(), "bob": randomPassword()},
	}
	if out, err := exec.Command(bin, "-VV").CombinedOutput(); err == nil {
		s.Version = strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(out), "\n", 2)[0], "@(#) "))
	}
	caPEM, err := writeCerts(dir)
	if err != nil {
		tb.Fatalf("ldaptest: certificates: %v", err)
	}
	s.CAPEM = caPEM
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		tb.Fatal(err)
	}
	if opts.ADSchema {
		if err := os.WriteFile(filepath.Join(dir, "adtest.schema"), []byte(adTestSchema), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(conf, []byte(slapdConf(dir, s.RootPassword, opts)), 0o600); err != nil {
		tb.Fatal(err)
	}

	// A free port can be taken by someone else between probe and bind; retry.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = s.start(bin, conf); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		tb.Fatalf("ldaptest: %v", lastErr)
	}
	tb.Cleanup(s.Stop)
	if err := s.seed(); err != nil {
		tb.Fatalf("ldaptest: seeding: %v\nslapd stderr:\n%s", err, s.stderr.String())
	}
	return s
}

func (s *Server) start(bin, conf string) error {
	p1, err := freePort()
	if err != nil {
		return err
	}
	p2, err := freePort()
	if err != nil {
		return err
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", p1)
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", p2)
	s.stderr = &lockedBuffer{}
	// -d 0 keeps slapd in the foreground (so we own and reap it) without
	// debug output; fatal config errors still reach stderr.
	cmd := exec.Command(bin, "-d", "0", "-f", conf, "-h", s.URL+"/ "+s.LDAPSURL+"/")
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd = cmd

	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("slapd exited during start-up (%v):\n%s", err, s.stderr.String())
		default:
		}
		if l, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second})); err == nil {
			err = l.Bind(s.RootDN, s.RootPassword)
			l.Close()
			if err == nil {
				s.waitExit = exited
				return nil
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("slapd did not accept a bind within 10s:\n%s", s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop terminates slapd and waits for it; safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused slapd cannot act on TERM
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.waitExit:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.waitExit
		}
	})
}

// Pause freezes slapd (SIGSTOP): connections stay open but nothing answers,
// like a hung directory. Stop and cleanup resume it first.
func (s *Server) Pause() error { return s.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume lets a paused slapd run again (SIGCONT).
func (s *Server) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

// Admin returns a connection bound as the rootdn, for arranging and checking
// directory state; it is closed in tb.Cleanup.
func (s *Server) Admin(tb testing.TB) *ldap.Conn {
	tb.Helper()
	l, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		tb.Fatalf("ldaptest: dial: %v", err)
	}
	l.SetTimeout(10 * time.Second)
	if err := l.Bind(s.RootDN, s.RootPassword); err != nil {
		l.Close()
		tb.Fatalf("ldaptest: bind rootdn: %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// CanBind reports whether dn can bind with password (nil error) or why not.
func (s *Server) CanBind(dn, password string) error {
	l, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return err
	}
	defer l.Close()
	l.SetTimeout(10 * time.Second)
	return l.Bind(dn, password)
}

// ConfigJSON is a connector config for this server over ldap:// + StartTLS
// with the test CA.
func (s *Server) ConfigJSON() []byte {
	return mustJSON(map[string]string{"url": s.URL, "ca_pem": string(s.CAPEM), "bind_dn": s.BindDN,
		"base_dn": s.BaseDN, "user_base": s.UserBase, "group_base": s.GroupBase})
}

// CredentialsJSON is the connector credentials for the service account.
func (s *Server) CredentialsJSON() []byte {
	return mustJSON(map[string]string{"bind_password": s.BindPassword})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// adTestSchema carries AD's attribute OIDs and syntaxes; the auxiliary
// class's OID is under an example arc, for tests only.
const adTestSchema = `attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
	EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.32473.1.1 NAME 'adTestUser' SUP top AUXILIARY
	MAY ( userAccountControl $ objectGUID $ sAMAccountName ) )
`

func slapdConf(dir, rootPW string, opts Options) string {
	p := func(name string) string { return filepath.Join(dir, name) }
	var schema, modules, overlays string
	if opts.ADSchema {
		schema = "include " + p("adtest.schema") + "\n"
	}
	if opts.MemberOf {
		modules = "moduleload memberof\n"
		overlays = "overlay memberof\nmemberof-group-oc groupOfNames\nmemberof-member-ad member\nmemberof-memberof-ad memberOf\nmemberof-refint TRUE\n"
	}
	// ppolicy in OpenLDAP 2.5 carries its own schema (pwdPolicy,
	// pwdAccountLockedTime…); 2.4 needed "include ppolicy.schema".
	// ppolicy_hash_cleartext hashes a plain userPassword given in Add or
	// Modify, so even a client that bypasses Password Modify stores no
	// cleartext.
	return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
` + schema + `modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
` + modules + `pidfile ` + p("slapd.pid") + `
argsfile ` + p("slapd.args") + `
TLSCACertificateFile ` + p("ca.pem") + `
TLSCertificateFile ` + p("server.pem") + `
TLSCertificateKeyFile ` + p("server.key") + `
password-hash {SSHA}

database mdb
maxsize 67108864
suffix "` + BaseDN + `"
rootdn "` + RootDN + `"
rootpw "` + rootPW + `"
directory ` + p("db") + `
index objectClass eq
index uid,cn,member eq

# The service account reads whole directories (inventory) with paged
# searches; without this, slapd's default size limit (500) ends a paged
# search at 500 entries in total.
limits dn.exact="` + BindDN + `" size.prtotal=unlimited

overlay ppolicy
ppolicy_default "` + PolicyDN + `"
ppolicy_hash_cleartext
` + overlays + `
# Passwords: each account may change its own (credential rotation), the
# service account may set users' passwords, everyone else may only bind.
access to attrs=userPassword
	by self write
	by dn.exact="` + BindDN + `" write
	by anonymous auth
	by * none
# pwdAccountLockedTime is an operational attribute: writing it needs "manage".
access to dn.subtree="` + UserBase + `" attrs=pwdAccountLockedTime
	by dn.exact="` + BindDN + `" manage
	by * read
access to dn.subtree="` + UserBase + `"
	by dn.exact="` + BindDN + `" write
	by users read
	by * none
access to dn.subtree="` + GroupBase + `"
	by dn.exact="` + BindDN + `" write
	by users read
	by * none
access to *
	by self read
	by users read
	by * none
`
}

func (s *Server) seed() error {
	l, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return err
	}
	defer l.Close()
	l.SetTimeout(10 * time.Second)
	if err := l.Bind(s.RootDN, s.RootPassword); err != nil {
		return err
	}
	type attrs = map[string][]string
	entries := []struct {
		dn string
		a  attrs
	}{
		{BaseDN, attrs{"objectClass": {"top", "dcObject", "organization"}, "o": {"Example"}, "dc": {"example"}}},
		{"ou=people," + BaseDN, attrs{"objectClass": {"top", "organizationalUnit"}, "ou": {"people"}}},
		{"ou=groups," + BaseDN, attrs{"objectClass": {"top", "organizationalUnit"}, "ou": {"groups"}}},
		{"ou=services," + BaseDN, attrs{"objectClass": {"top", "organizationalUnit"}, "ou": {"services"}}},
		{"ou=policies," + BaseDN, attrs{"objectClass": {"top", "organizationalUnit"}, "ou": {"policies"}}},
		{PolicyDN, attrs{"objectClass": {"top", "device", "pwdPolicy"}, "cn": {"default"},
			"pwdAttribute": {"userPassword"}, "pwdLockout": {"TRUE"}}},
		{BindDN, attrs{"objectClass": {"top", "applicationProcess", "simpleSecurityObject"}, "cn": {"nexplane"},
			"userPassword": {s.BindPassword}}},
		{"uid=alice," + UserBase, person("alice", "Alice Doe", "Doe", s.UserPasswords["alice"])},
		{"uid=bob," + UserBase, person("bob", "Bob Roe", "Roe", s.UserPasswords["bob"])},
		{"cn=admins," + GroupBase, attrs{"objectClass": {"top", "groupOfNames"}, "cn": {"admins"},
			"member": {"uid=alice," + UserBase}}},
		{"cn=devs," + GroupBase, attrs{"objectClass": {"top", "groupOfNames"}, "cn": {"devs"},
			"member": {"uid=alice," + UserBase, "uid=bob," + UserBase}}},
	}
	for _, e := range entries {
		req := ldap.NewAddRequest(e.dn, nil)
		for k, v := range e.a {
			req.Attribute(k, v)
		}
		if err := l.Add(req); err != nil {
			return fmt.Errorf("add %s: %w", e.dn, err)
		}
	}
	return nil
}

func person(uid, cn, sn, password string) map[string][]string {
	return map[string][]string{
		"objectClass":  {"top", "person", "organizationalPerson", "inetOrgPerson"},
		"uid":          {uid},
		"cn":           {cn},
		"sn":           {sn},
		"mail":         {uid + "@example.org"},
		"userPassword": {password},
	}
}

// writeCerts makes a CA and a server certificate for 127.0.0.1/localhost
// (ECDSA P-256: fast to generate, supported by slapd's GnuTLS).
func writeCerts(dir string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ldaptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.pem":     caPEM,
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	// Sanity: the pair must load, or slapd fails with a vaguer message.
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")); err != nil {
		return nil, errors.New("generated key pair does not load: " + err.Error())
	}
	return caPEM, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// lockedBuffer collects slapd's output; written by exec's copier goroutine
// and read by the test goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
