package ldap

import (
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// observe asks an operation whether its effect is in the directory.
func (e *env) observe(t *testing.T, typ, params string) app.Reconciliation {
	t.Helper()
	r, err := e.Op(t, typ, params).(app.Observer).Observe(testCtx(t), e.conn)
	if err != nil {
		t.Fatalf("observe %s %s: %v", typ, params, err)
	}
	return r
}

// TestObserve: each operation sees its effect absent before it runs and
// present after; a password reset can never tell, and a create stopped
// half way (groups missing) stops for a person.
func TestObserve(t *testing.T) {
	e := newEnv(t)
	create := `{"uid":"dora","cn":"Dora Lee","sn":"Lee","mail":"dora@example.org","groups":["devs"]}`
	steps := []struct{ typ, params string }{
		{"ldap.user.create", create},
		{"ldap.user.disable", `{"uid":"dora"}`},
		{"ldap.user.enable", `{"uid":"dora"}`},
		{"ldap.group.add_member", `{"group":"admins","uid":"dora"}`},
		{"ldap.group.remove_member", `{"group":"admins","uid":"dora"}`},
		{"ldap.user.delete", `{"uid":"dora"}`},
	}
	for i, s := range steps {
		if r := e.observe(t, s.typ, s.params); r.Outcome != app.OutcomeNotApplied {
			t.Errorf("%d %s before: %+v, want not applied", i, s.typ, r)
		}
		e.Exec(t, s.typ, s.params)
		r := e.observe(t, s.typ, s.params)
		if r.Outcome != app.OutcomeApplied || r.Reason == "" {
			t.Errorf("%d %s after: %+v, want applied with a reason", i, s.typ, r)
		}
		if s.typ == "ldap.user.create" && !strings.Contains(r.Reason, "ldap.user.reset_password") {
			t.Errorf("create's reason %q does not say how to get a password", r.Reason)
		}
	}

	// A password reset cannot tell whether it set a password nobody saw.
	if r := e.observe(t, "ldap.user.reset_password", `{"uid":"bob"}`); r.Outcome != app.OutcomeUnknown || !strings.Contains(r.Reason, "never recorded") {
		t.Errorf("reset_password: %+v, want unknown, saying why", r)
	}
	// A missing user is for the run to refuse, with its own error.
	if r := e.observe(t, "ldap.user.disable", `{"uid":"nobody"}`); r.Outcome != app.OutcomeNotApplied {
		t.Errorf("disable of a missing user: %+v, want not applied", r)
	}
	// An entry with the uid but other attributes is not this create's.
	if r := e.observe(t, "ldap.user.create", `{"uid":"bob","cn":"Someone Else","sn":"Else","mail":"else@example.org"}`); r.Outcome != app.OutcomeNotApplied {
		t.Errorf("create over another entry: %+v, want not applied (the run fails: it exists)", r)
	}
	// A create that stopped before its memberships: a person decides.
	e.Exec(t, "ldap.user.create", `{"uid":"eve","cn":"Eve Moe","sn":"Moe","mail":"eve@example.org"}`)
	r := e.observe(t, "ldap.user.create", `{"uid":"eve","cn":"Eve Moe","sn":"Moe","mail":"eve@example.org","groups":["devs"]}`)
	if r.Outcome != app.OutcomeUnknown || !strings.Contains(r.Reason, "devs") {
		t.Errorf("half-done create: %+v, want unknown naming the missing group", r)
	}
}
