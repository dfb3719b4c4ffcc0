package ldapauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/sso"
)

// startTLSConfig logs in over ldap:// + StartTLS with the test CA pinned,
// finding groups by a group search.
func startTLSConfig(srv *ldaptest.Server) Config {
	return Config{URL: srv.URL, StartTLS: true, CAPEM: string(srv.CAPEM),
		BindDN: srv.BindDN, BindPassword: srv.BindPassword, BaseDN: srv.UserBase,
		UserFilter:  "(&(objectClass=inetOrgPerson)(uid=%s))",
		GroupBaseDN: srv.GroupBase, GroupFilter: "(&(objectClass=groupOfNames)(member=%s))"}
}

// ldapsMemberOfConfig logs in over ldaps:// and reads groups from memberOf
// (the server must run the memberof overlay).
func ldapsMemberOfConfig(srv *ldaptest.Server) Config {
	return Config{URL: srv.LDAPSURL, CAPEM: string(srv.CAPEM),
		BindDN: srv.BindDN, BindPassword: srv.BindPassword, BaseDN: srv.BaseDN,
		UserFilter: "(uid=%s)", GroupBaseDN: srv.GroupBase}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func entryUUID(t *testing.T, srv *ldaptest.Server, uid string) string {
	t.Helper()
	res, err := srv.Admin(t).Search(ldap.NewSearchRequest("uid="+uid+","+srv.UserBase, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	return res.Entries[0].GetAttributeValue("entryUUID")
}

// wantErr checks the app code and the sentinel of a refused login.
func wantErr(t *testing.T, err error, code app.ErrorCode, sentinel error) {
	t.Helper()
	if app.ErrCode(err) != code || (sentinel != nil && !errors.Is(err, sentinel)) {
		t.Fatalf("err = %v (code %s), want code %s matching %v", err, app.ErrCode(err), code, sentinel)
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	srv := ldaptest.StartWith(t, ldaptest.Options{MemberOf: true})
	alicePW, bobPW := srv.UserPasswords["alice"], srv.UserPasswords["bob"]
	aliceID := sso.Identity{Subject: entryUUID(t, srv, "alice"), Email: "alice@example.org", Name: "Alice Doe",
		Groups: []string{"admins", "devs"}}

	for name, cfg := range map[string]Config{"starttls+group search": startTLSConfig(srv), "ldaps+memberOf": ldapsMemberOfConfig(srv)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := Authenticate(testCtx(t), cfg, "alice", alicePW)
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			if got.Subject != aliceID.Subject || got.Email != aliceID.Email || got.Name != aliceID.Name || !slices.Equal(got.Groups, aliceID.Groups) {
				t.Errorf("alice = %+v, want %+v", got, aliceID)
			}
			if got.Claims["dn"] != "uid=alice,"+srv.UserBase {
				t.Errorf("claims = %v, want the dn", got.Claims)
			}
			for k, v := range got.Claims {
				if strings.Contains(fmt.Sprint(v), alicePW) {
					t.Errorf("claim %s holds the password", k)
				}
			}
			bob, err := Authenticate(testCtx(t), cfg, "bob", bobPW)
			if err != nil || !slices.Equal(bob.Groups, []string{"devs"}) || bob.Subject == got.Subject {
				t.Errorf("bob = %+v, %v; want only devs and his own subject", bob, err)
			}

			for _, tc := range []struct{ name, user, password string }{
				{"wrong password", "alice", bobPW},
				{"unknown user", "mallory", alicePW},
				// Unescaped, these would match alice and log in with her
				// password under another name.
				{"filter injection", "alice)(uid=*", alicePW},
				{"wildcard", "al*", alicePW},
				{"injection widening to everyone", "*)(uid=*", alicePW},
			} {
				_, err := Authenticate(testCtx(t), cfg, tc.user, tc.password)
				if app.ErrCode(err) != app.EUNAUTHORIZED || !errors.Is(err, ErrInvalidCredentials) || app.ErrMessage(err) != "invalid username or password" {
					t.Errorf("%s: err = %v, want invalid username or password", tc.name, err)
				}
			}
		})
	}
}

// TestEmptyPasswordNeverBinds: the empty password is refused before the
// directory is contacted. The URL points at a closed port, so reaching the
// network would give EUNAVAILABLE instead.
func TestEmptyPasswordNeverBinds(t *testing.T) {
	t.Parallel()
	cfg := Config{URL: "ldap://127.0.0.1:" + closedPort(t), BindDN: "cn=svc,dc=example,dc=org", BindPassword: "x",
		BaseDN: "dc=example,dc=org", UserFilter: "(uid=%s)"}
	for _, user := range []string{"alice", ""} {
		_, err := Authenticate(testCtx(t), cfg, user, "")
		wantErr(t, err, app.EUNAUTHORIZED, ErrInvalidCredentials)
	}
	_, err := Authenticate(testCtx(t), cfg, "alice", "a password")
	wantErr(t, err, app.EUNAVAILABLE, nil)
}

func TestGroupChangeAtNextLogin(t *testing.T) {
	t.Parallel()
	srv := ldaptest.StartWith(t, ldaptest.Options{MemberOf: true})
	for _, cfg := range []Config{startTLSConfig(srv), ldapsMemberOfConfig(srv)} {
		id, err := Authenticate(testCtx(t), cfg, "alice", srv.UserPasswords["alice"])
		if err != nil || !slices.Equal(id.Groups, []string{"admins", "devs"}) {
			t.Fatalf("before: %+v, %v", id, err)
		}
	}
	mod := ldap.NewModifyRequest("cn=admins,"+srv.GroupBase, nil)
	mod.Add("member", []string{"uid=bob," + srv.UserBase})
	mod.Delete("member", []string{"uid=alice," + srv.UserBase})
	if err := srv.Admin(t).Modify(mod); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{startTLSConfig(srv), ldapsMemberOfConfig(srv)} {
		alice, err := Authenticate(testCtx(t), cfg, "alice", srv.UserPasswords["alice"])
		if err != nil || !slices.Equal(alice.Groups, []string{"devs"}) {
			t.Errorf("alice after removal from admins (%s): %+v, %v", cfg.URL, alice, err)
		}
		bob, err := Authenticate(testCtx(t), cfg, "bob", srv.UserPasswords["bob"])
		if err != nil || !slices.Equal(bob.Groups, []string{"admins", "devs"}) {
			t.Errorf("bob after joining admins (%s): %+v, %v", cfg.URL, bob, err)
		}
	}
}

// TestLockedAccount: ppolicy's pwdAccountLockedTime refuses the right
// password, and says so; unlocking lets the user in again.
func TestLockedAccount(t *testing.T) {
	t.Parallel()
	srv := ldaptest.Start(t)
	cfg := startTLSConfig(srv)
	admin := srv.Admin(t)
	lock := ldap.NewModifyRequest("uid=bob,"+srv.UserBase, nil)
	lock.Replace("pwdAccountLockedTime", []string{"000001010000Z"}) // locked until an admin unlocks
	if err := admin.Modify(lock); err != nil {
		t.Fatal(err)
	}
	_, err := Authenticate(testCtx(t), cfg, "bob", srv.UserPasswords["bob"])
	wantErr(t, err, app.EFORBIDDEN, ErrAccountDisabled)
	if !strings.Contains(app.ErrMessage(err), "locked") {
		t.Errorf("message %q does not say locked", app.ErrMessage(err))
	}

	unlock := ldap.NewModifyRequest("uid=bob,"+srv.UserBase, nil)
	unlock.Delete("pwdAccountLockedTime", nil)
	if err := admin.Modify(unlock); err != nil {
		t.Fatal(err)
	}
	if _, err := Authenticate(testCtx(t), cfg, "bob", srv.UserPasswords["bob"]); err != nil {
		t.Errorf("after unlock: %v", err)
	}
}

// TestActiveDirectoryStyle: the AD settings (sAMAccountName filter,
// objectGUID subject, displayName, memberOf) against slapd with AD's
// attributes; userAccountControl's ACCOUNTDISABLE bit refuses the login.
func TestActiveDirectoryStyle(t *testing.T) {
	t.Parallel()
	srv := ldaptest.StartWith(t, ldaptest.Options{MemberOf: true, ADSchema: true})
	admin := srv.Admin(t)
	const dn = "cn=Carol Poe,ou=people,dc=example,dc=org"
	guid := []byte{0x78, 0x56, 0x34, 0x12, 0xbc, 0x9a, 0xf0, 0xde, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson", "adTestUser"})
	add.Attribute("cn", []string{"Carol Poe"})
	add.Attribute("sn", []string{"Poe"})
	add.Attribute("displayName", []string{"Carol P."})
	add.Attribute("mail", []string{"carol@example.org"})
	add.Attribute("sAMAccountName", []string{"carol"})
	add.Attribute("objectGUID", []string{string(guid)})
	add.Attribute("userAccountControl", []string{"512"}) // NORMAL_ACCOUNT
	add.Attribute("userPassword", []string{"Carol's pass 1"})
	if err := admin.Add(add); err != nil {
		t.Fatal(err)
	}
	join := ldap.NewModifyRequest("cn=devs,"+srv.GroupBase, nil)
	join.Add("member", []string{dn})
	if err := admin.Modify(join); err != nil {
		t.Fatal(err)
	}

	cfg := Config{URL: srv.LDAPSURL, CAPEM: string(srv.CAPEM), BindDN: srv.BindDN, BindPassword: srv.BindPassword,
		BaseDN: srv.BaseDN, UserFilter: "(sAMAccountName=%s)", SubjectAttr: "objectGUID", NameAttr: "displayName",
		GroupBaseDN: srv.GroupBase}
	id, err := Authenticate(testCtx(t), cfg, "CAROL", "Carol's pass 1") // sAMAccountName is case-insensitive
	if err != nil {
		t.Fatal(err)
	}
	want := sso.Identity{Subject: "12345678-9abc-def0-0123-456789abcdef", Email: "carol@example.org", Name: "Carol P.", Groups: []string{"devs"}}
	if id.Subject != want.Subject || id.Email != want.Email || id.Name != want.Name || !slices.Equal(id.Groups, want.Groups) {
		t.Errorf("carol = %+v, want %+v", id, want)
	}

	disable := ldap.NewModifyRequest(dn, nil)
	disable.Replace("userAccountControl", []string{"514"}) // NORMAL_ACCOUNT|ACCOUNTDISABLE
	if err := admin.Modify(disable); err != nil {
		t.Fatal(err)
	}
	_, err = Authenticate(testCtx(t), cfg, "carol", "Carol's pass 1")
	wantErr(t, err, app.EFORBIDDEN, ErrAccountDisabled)
	// A wrong password on a disabled account says nothing about the account.
	_, err = Authenticate(testCtx(t), cfg, "carol", "a guess")
	wantErr(t, err, app.EUNAUTHORIZED, ErrInvalidCredentials)
}

func TestTLSPinning(t *testing.T) {
	t.Parallel()
	srv := ldaptest.Start(t)
	other := otherCA(t)
	for _, tc := range []struct {
		name string
		cfg  func() Config
	}{
		{"StartTLS", func() Config { return startTLSConfig(srv) }},
		{"ldaps", func() Config { c := startTLSConfig(srv); c.URL, c.StartTLS = srv.LDAPSURL, false; return c }},
	} {
		cfg := tc.cfg()
		if _, err := Authenticate(testCtx(t), cfg, "alice", srv.UserPasswords["alice"]); err != nil {
			t.Errorf("%s with the right CA: %v", tc.name, err)
		}
		cfg.CAPEM = other
		_, err := Authenticate(testCtx(t), cfg, "alice", srv.UserPasswords["alice"])
		wantErr(t, err, app.EUNAVAILABLE, nil)
		if !strings.Contains(err.Error(), "unknown authority") {
			t.Errorf("%s with a wrong CA pin: %v, want an unknown authority refusal", tc.name, err)
		}
	}
}

func TestDirectoryProblemsAreUnavailable(t *testing.T) {
	t.Parallel()
	srv := ldaptest.Start(t)
	wrongBind := startTLSConfig(srv)
	wrongBind.BindPassword = "not the service password"
	closed := startTLSConfig(srv)
	closed.URL = "ldap://127.0.0.1:" + closedPort(t)
	for name, cfg := range map[string]Config{"wrong service password": wrongBind, "nothing listening": closed} {
		_, err := Authenticate(testCtx(t), cfg, "alice", srv.UserPasswords["alice"])
		if app.ErrCode(err) != app.EUNAVAILABLE || errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s: err = %v, want EUNAVAILABLE", name, err)
		}
		if strings.Contains(err.Error(), cfg.BindPassword) || strings.Contains(fmt.Sprint(err), srv.UserPasswords["alice"]) {
			t.Errorf("%s: error leaks a password: %v", name, err)
		}
	}
}

// TestHungDirectory: a directory that accepts connections but never
// answers holds a login only until its context ends, and that is an
// infrastructure failure.
func TestHungDirectory(t *testing.T) {
	t.Parallel()
	srv := ldaptest.Start(t)
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Resume() })
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := Authenticate(ctx, startTLSConfig(srv), "alice", srv.UserPasswords["alice"])
		done <- err
	}()
	cancel()
	wantErr(t, <-done, app.EUNAVAILABLE, nil)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := func() Config {
		return Config{URL: "ldaps://DC1.example.org", BindDN: "cn=svc,dc=example,dc=org", BindPassword: "pw",
			BaseDN: "dc=example,dc=org", UserFilter: "(sAMAccountName=%s)"}
	}
	c := ok()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.URL != "ldaps://dc1.example.org:636" || c.SubjectAttr != "entryUUID" || c.EmailAttr != "mail" || c.NameAttr != "cn" {
		t.Errorf("normalised = %+v", c)
	}
	for _, tc := range []struct {
		name, want string
		mod        func(*Config)
	}{
		{"scheme", "scheme must be ldap or ldaps", func(c *Config) { c.URL = "http://dc1" }},
		{"clear text", "clear text", func(c *Config) { c.URL = "ldap://dc1.example.org" }},
		{"starttls on ldaps", "start_tls applies to ldap://", func(c *Config) { c.StartTLS = true }},
		{"ca pem", "ca_pem contains no PEM", func(c *Config) { c.CAPEM = "nope" }},
		{"no bind password", "bind password are required", func(c *Config) { c.BindPassword = "" }},
		{"bind dn", "bind_dn", func(c *Config) { c.BindDN = "not a dn" }},
		{"base dn", "base_dn", func(c *Config) { c.BaseDN = "" }},
		{"filter without %s", "user_filter must be a filter with %s", func(c *Config) { c.UserFilter = "(uid=alice)" }},
		{"filter syntax", "does not parse", func(c *Config) { c.UserFilter = "(uid=%s" }},
		{"group filter without base", "needs group_base_dn", func(c *Config) { c.GroupFilter = "(member=%s)" }},
		{"attribute", "subject_attr", func(c *Config) { c.SubjectAttr = "entry UUID" }},
		{"timeout", "timeout_seconds", func(c *Config) { c.TimeoutSeconds = 1000 }},
	} {
		c := ok()
		tc.mod(&c)
		err := c.Validate()
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), tc.want) {
			t.Errorf("%s: err = %v, want EINVALID mentioning %q", tc.name, err, tc.want)
		}
	}
	// The README's Active Directory example, nested-group filter included.
	ad := Config{URL: "ldaps://dc1.corp.example.com:636", BindDN: "CN=svc-nexplane,OU=Service Accounts,DC=corp,DC=example,DC=com", BindPassword: "x",
		BaseDN: "OU=Staff,DC=corp,DC=example,DC=com", UserFilter: "(&(objectCategory=person)(objectClass=user)(sAMAccountName=%s))",
		SubjectAttr: "objectGUID", NameAttr: "displayName", GroupBaseDN: "OU=Groups,DC=corp,DC=example,DC=com",
		GroupFilter: "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=%s))"}
	if err := ad.Validate(); err != nil {
		t.Errorf("AD example: %v", err)
	}
	lab := Config{URL: "ldap://localhost", BindDN: "cn=svc,dc=example,dc=org", BindPassword: "pw", BaseDN: "dc=example,dc=org", UserFilter: "(uid=%s)"}
	if err := lab.Validate(); err != nil {
		t.Errorf("plain ldap:// to localhost: %v", err)
	}
	if s := fmt.Sprintf("%v %+v %#v %s", lab, lab, lab, lab); strings.Contains(s, "pw ") || strings.Contains(s, `"pw"`) {
		t.Errorf("formatting shows the bind password: %s", s)
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_ = ln.Close()
	return port
}

// otherCA is a CA that did not issue the test server's certificate.
func otherCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
