package ldap

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// otherCA is a valid CA certificate that did not sign the test server's.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func cfgJSON(t *testing.T, m map[string]any) json.RawMessage {
	t.Helper()
	base := map[string]any{
		"url": "ldap://ldap.example.org", "bind_dn": "cn=nexplane,ou=services,dc=example,dc=org",
		"base_dn": "dc=example,dc=org", "user_base": "ou=people,dc=example,dc=org", "group_base": "ou=groups,dc=example,dc=org",
	}
	for k, v := range m {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateConfigNormalises(t *testing.T) {
	t.Parallel()
	out, err := Driver{}.ValidateConfig(cfgJSON(t, map[string]any{
		"url":     "LDAPS://LDAP.Example.org",
		"base_dn": "DC=example, DC=org", "user_base": "OU=people,dc=example,dc=org", "ca_pem": otherCA(t),
	}))
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "ldaps://ldap.example.org:636" || cfg.BaseDN != "dc=example,dc=org" || cfg.UserBase != "ou=people,dc=example,dc=org" {
		t.Errorf("normalised = %+v", cfg)
	}
	if strings.Join(cfg.UserObjectClasses, ",") != "top,person,organizationalPerson,inetOrgPerson" {
		t.Errorf("object classes = %v", cfg.UserObjectClasses)
	}
	out, err = Driver{}.ValidateConfig(cfgJSON(t, map[string]any{"url": "ldap://[::1]:1389/"}))
	if err != nil || !strings.Contains(string(out), `"url":"ldap://[::1]:1389"`) {
		t.Errorf("ipv6: %s %v", out, err)
	}
}

// TestInsecureNoTLSOnlyOnLoopback: a directory on this machine (tests,
// labs) may be reached without TLS; the password never crosses a network.
func TestInsecureNoTLSOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ldap://localhost:1389", "ldap://127.0.0.1", "ldap://127.0.0.2:389", "ldap://[::1]:1389"} {
		if _, err := (Driver{}).ValidateConfig(cfgJSON(t, map[string]any{"url": u, "insecure_no_tls": true})); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestValidateConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  map[string]any
		raw  string
		want string
	}{
		{name: "bad scheme", cfg: map[string]any{"url": "http://x"}, want: `scheme must be ldap or ldaps, not "http"`},
		{name: "no url", cfg: map[string]any{"url": nil}, want: "url: is required"},
		{name: "no host", cfg: map[string]any{"url": "ldap://"}, want: "has no host"},
		{name: "userinfo", cfg: map[string]any{"url": "ldap://u:p@host"}, want: "must not contain a user or password"},
		{name: "path", cfg: map[string]any{"url": "ldap://host/dc=x??sub"}, want: "must be only scheme://host:port"},
		{name: "insecure with ldaps", cfg: map[string]any{"url": "ldaps://h", "insecure_no_tls": true}, want: "insecure_no_tls only applies to ldap://"},
		{name: "insecure with skip verify", cfg: map[string]any{"insecure_no_tls": true, "tls_skip_verify": true}, want: "make no sense"},
		{name: "insecure to another host", cfg: map[string]any{"insecure_no_tls": true}, want: "insecure_no_tls is allowed only for a directory on this machine (localhost, 127.0.0.0/8, ::1), not ldap.example.org"},
		{name: "insecure to a private address", cfg: map[string]any{"url": "ldap://10.0.0.5", "insecure_no_tls": true}, want: "not 10.0.0.5"},
		{name: "insecure to a localhost lookalike", cfg: map[string]any{"url": "ldap://localhost.example.org", "insecure_no_tls": true}, want: "not localhost.example.org"},
		{name: "skip verify with ca", cfg: map[string]any{"tls_skip_verify": true, "ca_pem": otherCA(t)}, want: "set only one"},
		{name: "ca garbage", cfg: map[string]any{"ca_pem": "hello"}, want: "ca_pem: contains no PEM certificate"},
		{name: "ca private key", cfg: map[string]any{"ca_pem": "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"}, want: `contains a "PRIVATE KEY" block`},
		{name: "bad bind dn", cfg: map[string]any{"bind_dn": "not a dn"}, want: "bind_dn is not a valid DN"},
		{name: "missing base", cfg: map[string]any{"base_dn": ""}, want: "base_dn is required"},
		{name: "user base outside", cfg: map[string]any{"user_base": "ou=people,dc=other,dc=org"}, want: "user_base ou=people,dc=other,dc=org is not under base_dn dc=example,dc=org"},
		{name: "group base outside", cfg: map[string]any{"group_base": "dc=org"}, want: "group_base dc=org is not under base_dn"},
		{name: "object class name", cfg: map[string]any{"user_object_classes": []string{"top", "inet)OrgPerson"}}, want: "is not an object class name"},
		{name: "no inetOrgPerson", cfg: map[string]any{"user_object_classes": []string{"top", "person"}}, want: "must include inetOrgPerson"},
		{name: "unknown field", cfg: map[string]any{"bind_password": "x"}, want: `unknown field "bind_password"`},
		{name: "malformed", raw: `{"url":`, want: "malformed JSON"},
		{name: "wrong type", raw: `{"url": 5}`, want: `field "url" has the wrong type`},
		{name: "two objects", raw: `{} {}`, want: "single JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := json.RawMessage(tt.raw)
			if tt.raw == "" {
				raw = cfgJSON(t, tt.cfg)
			}
			_, err := Driver{}.ValidateConfig(raw)
			if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), tt.want) {
				t.Errorf("err = %v, want invalid containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateCredentials(t *testing.T) {
	t.Parallel()
	const pw = "s3cr3t-Value-that-must-not-leak"
	if err := (Driver{}).ValidateCredentials([]byte(`{"bind_password":"` + pw + `"}`)); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		`{}`, `{"bind_password":""}`, `{"bind_password":"` + pw + `","x":1}`, `{"bind_password":` + pw, `"` + pw + `"`,
		`{"bind_password":["` + pw + `"]}`, `{"bind_password":"` + strings.Repeat("x", 1025) + `"}`,
	} {
		err := Driver{}.ValidateCredentials([]byte(raw))
		if app.ErrCode(err) != app.EINVALID {
			t.Errorf("%s: err = %v, want invalid", raw, err)
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "xxxx") {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
	// Redaction if someone prints them.
	c := Credentials{BindPassword: pw}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "creds", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v %#v %s", c, c, c), sb.String()} {
		if strings.Contains(s, pw) {
			t.Errorf("credentials printed: %s", s)
		}
	}
}

func connectErr(t *testing.T, cfg, creds []byte) error {
	t.Helper()
	c, err := Driver{}.Connect(testCtx(t), cfg, creds)
	if err == nil {
		c.Close()
		t.Fatal("connect succeeded, want an error")
	}
	return err
}

func TestConnectStartTLSAndTest(t *testing.T) {
	e := newEnv(t)
	msg, err := e.conn.Test(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "Test", msg, "bound as "+ldaptest.BindDN, "to "+e.srv.URL, "over StartTLS TLS 1.3",
		"base dc=example,dc=org is readable", "2 users under ou=people", "2 groups under ou=groups")
	if err := e.conn.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := e.conn.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := e.conn.Test(testCtx(t)); app.ErrCode(err) != app.EUNAVAILABLE {
		t.Errorf("Test after Close: %v, want unavailable", err)
	}
}

func TestConnectLDAPSAndInsecure(t *testing.T) {
	t.Parallel()
	srv := ldaptest.Start(t)
	var cfg map[string]any
	if err := json.Unmarshal(srv.ConfigJSON(), &cfg); err != nil {
		t.Fatal(err)
	}

	cfg["url"] = srv.LDAPSURL
	c, err := Driver{}.Connect(testCtx(t), cfgJSON(t, cfg), srv.CredentialsJSON())
	if err != nil {
		t.Fatalf("ldaps: %v", err)
	}
	msg, err := c.Test(testCtx(t))
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "ldaps Test", msg, "over ldaps TLS 1.3")

	cfg["url"], cfg["ca_pem"], cfg["insecure_no_tls"] = srv.URL, nil, true
	c, err = Driver{}.Connect(testCtx(t), cfgJSON(t, cfg), srv.CredentialsJSON())
	if err != nil {
		t.Fatalf("insecure_no_tls: %v", err)
	}
	msg, err = c.Test(testCtx(t))
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "insecure Test", msg, "over NO TLS (insecure_no_tls")

	// tls_skip_verify accepts the unknown CA.
	cfg["insecure_no_tls"], cfg["tls_skip_verify"] = nil, true
	c, err = Driver{}.Connect(testCtx(t), cfgJSON(t, cfg), srv.CredentialsJSON())
	if err != nil {
		t.Fatalf("tls_skip_verify: %v", err)
	}
	c.Close()
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()
	srv := ldaptest.Start(t)
	var good map[string]any
	if err := json.Unmarshal(srv.ConfigJSON(), &good); err != nil {
		t.Fatal(err)
	}
	with := func(m map[string]any) json.RawMessage {
		c := map[string]any{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range m {
			c[k] = v
		}
		return cfgJSON(t, c)
	}

	t.Run("unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		err = connectErr(t, with(map[string]any{"url": "ldap://" + addr}), srv.CredentialsJSON())
		want := "cannot reach ldap://" + addr + ": connection refused"
		if app.ErrCode(err) != app.EUNAVAILABLE || app.ErrMessage(err) != want {
			t.Errorf("err = %v\nwant unavailable %q", err, want)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		const wrong = "Wrong-Password-123"
		err := connectErr(t, srv.ConfigJSON(), []byte(`{"bind_password":"`+wrong+`"}`))
		wantContains(t, "err", app.ErrMessage(err), "bind as "+ldaptest.BindDN+" failed: invalid credentials")
		if strings.Contains(err.Error(), wrong) || strings.Contains(fmt.Sprintf("%+v", err), wrong) {
			t.Errorf("error contains the password: %v", err)
		}
	})

	t.Run("unknown CA over StartTLS", func(t *testing.T) {
		err := connectErr(t, with(map[string]any{"ca_pem": nil}), srv.CredentialsJSON())
		want := "TLS handshake with " + srv.URL + " failed: certificate signed by unknown authority (set ca_pem to the CA that issued the server certificate)"
		if app.ErrCode(err) != app.EUNAVAILABLE || app.ErrMessage(err) != want {
			t.Errorf("err = %v\nwant %q", err, want)
		}
	})

	t.Run("unknown CA over ldaps", func(t *testing.T) {
		err := connectErr(t, with(map[string]any{"url": srv.LDAPSURL, "ca_pem": otherCA(t)}), srv.CredentialsJSON())
		wantContains(t, "err", app.ErrMessage(err), "TLS handshake with "+srv.LDAPSURL+" failed: certificate signed by unknown authority")
	})

	t.Run("ldaps by host name", func(t *testing.T) {
		c, err := Driver{}.Connect(testCtx(t), with(map[string]any{"url": strings.Replace(srv.LDAPSURL, "127.0.0.1", "localhost", 1)}), srv.CredentialsJSON())
		if err != nil {
			t.Fatalf("the certificate names localhost: %v", err)
		}
		c.Close()
	})

	t.Run("TLS to a plain port", func(t *testing.T) {
		err := connectErr(t, with(map[string]any{"url": strings.Replace(srv.URL, "ldap://", "ldaps://", 1)}), srv.CredentialsJSON())
		wantContains(t, "err", app.ErrMessage(err), "TLS handshake with ldaps://127.0.0.1:")
	})

	t.Run("silent server times out", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close() // hold it open and say nothing
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = Driver{}.Connect(ctx, with(map[string]any{"url": "ldap://" + ln.Addr().String()}), srv.CredentialsJSON())
		if app.ErrCode(err) != app.EUNAVAILABLE || !strings.Contains(app.ErrMessage(err), "timed out") {
			t.Errorf("err = %v, want unavailable timed out", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v; the context deadline was not honoured", d)
		}
		if !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
			t.Errorf("the cause is not kept in the chain: %#v", err)
		}
	})

	t.Run("bad config refused before dialling", func(t *testing.T) {
		err := connectErr(t, with(map[string]any{"url": "http://x"}), srv.CredentialsJSON())
		if app.ErrCode(err) != app.EINVALID {
			t.Errorf("err = %v", err)
		}
	})
}
