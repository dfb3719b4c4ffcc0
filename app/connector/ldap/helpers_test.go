package ldap

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/optest"
)

// env is one fresh slapd plus a connector session to it.
type env struct {
	srv  *ldaptest.Server
	conn app.Conn
	reg  *app.Registry
	optest.Runner
}

func newEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	srv := ldaptest.Start(t)
	c, err := Driver{}.Connect(testCtx(t), srv.ConfigJSON(), srv.CredentialsJSON())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	reg := app.NewRegistry()
	Register(reg)
	return &env{srv: srv, conn: c, reg: reg, Runner: optest.Runner{Reg: reg, ConnType: Type, Conn: c}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// attr reads one attribute (operational ones included) as the rootdn;
// "" with exists=false when the entry is missing.
func (e *env) attr(t *testing.T, dn, name string) (vals []string, exists bool) {
	t.Helper()
	l := e.srv.Admin(t)
	res, err := l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{name}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("read %s of %s: %v", name, dn, err)
	}
	return res.Entries[0].GetAttributeValues(name), true
}

func (e *env) members(t *testing.T, group string) []string {
	t.Helper()
	vals, ok := e.attr(t, "cn="+group+","+ldaptest.GroupBase, "member")
	if !ok {
		t.Fatalf("group %s missing", group)
	}
	for i := range vals {
		vals[i] = strings.ToLower(vals[i])
	}
	return vals
}

func userDN(uid string) string { return "uid=" + uid + "," + ldaptest.UserBase }

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// wantContains fails unless s contains every part.
func wantContains(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s = %q\nwant it to contain %q", what, s, p)
		}
	}
}

// wantBind checks that dn binds with password (ok) or fails with invalid
// credentials (!ok).
func (e *env) wantBind(t *testing.T, dn, password string, ok bool) {
	t.Helper()
	err := e.srv.CanBind(dn, password)
	switch {
	case ok && err != nil:
		t.Errorf("bind %s: %v, want success", dn, err)
	case !ok && !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		t.Errorf("bind %s: %v, want invalid credentials", dn, err)
	}
}

func newDel(dn string) *ldap.DelRequest { return ldap.NewDelRequest(dn, nil) }
