package ldap

import (
	"strings"
	"testing"
)

func TestNewPassword(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		p, err := newPassword(userPasswordLen)
		if err != nil {
			t.Fatal(err)
		}
		s := p.reveal()
		if len(s) != userPasswordLen || !hasClasses([]byte(s)) || strings.Trim(s, alphabet) != "" {
			t.Fatalf("bad password %q", s)
		}
		if seen[s] {
			t.Fatal("repeated password")
		}
		seen[s] = true
		if p.String() != "[redacted]" {
			t.Fatal("secret prints")
		}
	}
}

// The escaping is the second wall: even values that validation would
// refuse cannot change a DN's or a filter's structure.
func TestEscaping(t *testing.T) {
	t.Parallel()
	c := &conn{cfg: &Config{UserBase: "ou=people,dc=example,dc=org"}}
	if got := c.newUserDN("a,ou=x+cn=y"); got != `uid=a\,ou=x\+cn=y,ou=people,dc=example,dc=org` {
		t.Errorf("dn = %s", got)
	}
	if got := userFilter("*)(uid=*"); got != `(&(objectClass=inetOrgPerson)(uid=\2a\29\28uid=\2a))` {
		t.Errorf("filter = %s", got)
	}
	if got := memberFilter("uid=a\x00,dc=x"); got != `(&(objectClass=groupOfNames)(member=uid=a\00,dc=x))` {
		t.Errorf("member filter = %s", got)
	}
	if got := groupFilter(`a\b`); got != `(&(objectClass=groupOfNames)(cn=a\5cb))` {
		t.Errorf("group filter = %s", got)
	}
}
