package ldap

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

func TestValidateParams(t *testing.T) {
	t.Parallel()
	reg := app.NewRegistry()
	Register(reg)
	good := []struct{ typ, params string }{
		{"ldap.user.create", `{"uid":"carol","cn":"Carol Doe","sn":"Doe","mail":"carol@example.org","groups":["admins","Dev Team"]}`},
		{"ldap.user.create", `{"uid":"_svc.backup-1","cn":"Zoë Ñúñez 王","sn":"Ñúñez","mail":"z@example.org"}`},
		{"ldap.user.disable", `{"uid":"alice"}`},
		{"ldap.user.enable", `{"uid":"a"}`},
		{"ldap.user.reset_password", `{"uid":"` + strings.Repeat("a", 64) + `"}`},
		{"ldap.user.delete", `{"uid":"bob"}`},
		{"ldap.group.add_member", `{"group":"admins","uid":"bob"}`},
		{"ldap.group.remove_member", `{"group":"Web Ops.2","uid":"bob"}`},
		{"connector.rotate_credentials", `{}`},
		{"connector.rotate_credentials", ``},
	}
	for _, g := range good {
		if _, err := reg.DecodeOperation("ldap", g.typ, json.RawMessage(g.params)); err != nil {
			t.Errorf("%s %s: %v", g.typ, g.params, err)
		}
	}

	user := func(uid string) string { b, _ := json.Marshal(map[string]string{"uid": uid}); return string(b) }
	create := func(m map[string]any) string {
		base := map[string]any{"uid": "carol", "cn": "Carol Doe", "sn": "Doe", "mail": "carol@example.org"}
		for k, v := range m {
			base[k] = v
		}
		b, _ := json.Marshal(base)
		return string(b)
	}
	member := func(group, uid string) string {
		b, _ := json.Marshal(map[string]string{"group": group, "uid": uid})
		return string(b)
	}
	bad := []struct{ typ, params, want string }{
		// DN and filter injection attempts.
		{"ldap.user.disable", user("alice,ou=x"), `uid "alice,ou=x" is not allowed`},
		{"ldap.user.disable", user("alice,ou=people,dc=example,dc=org"), "is not allowed"},
		{"ldap.user.disable", user("*"), `uid "*" is not allowed`},
		{"ldap.user.disable", user("a)(uid=*"), `uid "a)(uid=*" is not allowed`},
		{"ldap.user.disable", user("a\\00"), "is not allowed"},
		{"ldap.user.disable", user("a\x00"), `uid "a\x00" is not allowed`},
		{"ldap.user.disable", user("a=b"), "is not allowed"},
		{"ldap.user.disable", user("a+cn=x"), "is not allowed"},
		{"ldap.user.disable", user("#a"), "is not allowed"},
		{"ldap.user.disable", user(" alice"), "is not allowed"},
		{"ldap.user.disable", user("Alice"), "is not allowed"},
		{"ldap.user.disable", user("1alice"), "is not allowed"},
		{"ldap.user.disable", user(strings.Repeat("a", 65)), "is not allowed"},
		{"ldap.user.disable", user(""), "uid is required"},
		{"ldap.user.enable", `{}`, "uid is required"},
		{"ldap.user.reset_password", user("a;b"), "is not allowed"},
		{"ldap.user.delete", user("a\\2cb"), "is not allowed"},
		{"ldap.group.add_member", member("admins,ou=x", "bob"), `group "admins,ou=x" is not allowed`},
		{"ldap.group.add_member", member("*", "bob"), "is not allowed"},
		{"ldap.group.add_member", member("a)(cn=*", "bob"), "is not allowed"},
		{"ldap.group.add_member", member("admins ", "bob"), "no trailing space"},
		{"ldap.group.add_member", member(" admins", "bob"), "is not allowed"},
		{"ldap.group.add_member", member("a  b", "bob"), "single spaces"},
		{"ldap.group.add_member", member("admins", "bob)"), "is not allowed"},
		{"ldap.group.remove_member", member("", "bob"), "group is required"},
		{"ldap.group.remove_member", member("admins", ""), "uid is required"},
		{"ldap.user.create", create(map[string]any{"uid": "x*"}), "is not allowed"},
		{"ldap.user.create", create(map[string]any{"cn": ""}), "cn is required"},
		{"ldap.user.create", create(map[string]any{"cn": "Carol\x00Doe"}), "cn contains a non-printable character (U+0000)"},
		{"ldap.user.create", create(map[string]any{"cn": "Carol\nDoe"}), "non-printable"},
		{"ldap.user.create", create(map[string]any{"sn": " Doe"}), "sn must not start or end with spaces"},
		{"ldap.user.create", create(map[string]any{"sn": strings.Repeat("é", 129)}), "sn is longer than 128 characters"},
		{"ldap.user.create", create(map[string]any{"mail": "not-an-address"}), "is not a plain e-mail address"},
		{"ldap.user.create", create(map[string]any{"mail": "Carol <carol@example.org>"}), "is not a plain e-mail address"},
		{"ldap.user.create", create(map[string]any{"mail": ""}), "mail is required"},
		{"ldap.user.create", create(map[string]any{"groups": []string{"admins", "ADMINS"}}), `group "ADMINS" is listed twice`},
		{"ldap.user.create", create(map[string]any{"groups": []string{"admins)(x=*"}}), "is not allowed"},
		{"ldap.user.create", create(map[string]any{"groups": "admins"}), `field "groups" has the wrong type`},
		// Strict decoding.
		{"ldap.user.disable", `{"uid":"alice","dn":"cn=x"}`, `unknown field "dn"`},
		{"connector.rotate_credentials", `{"bind_password":"x"}`, `unknown field "bind_password"`},
	}
	for _, b := range bad {
		_, err := reg.DecodeOperation("ldap", b.typ, json.RawMessage(b.params))
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), b.want) {
			t.Errorf("%s %q: err = %v\nwant invalid containing %q", b.typ, b.params, err, b.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := app.NewRegistry()
	Register(r)
	if d, err := r.Driver("ldap"); err != nil || d.Type() != "ldap" {
		t.Fatalf("driver: %v %v", d, err)
	}
	op, err := r.DecodeOperation("ldap", "ldap.user.disable", json.RawMessage(`{"uid":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := op.(*UserDisable); !ok || d.UID != "alice" {
		t.Errorf("decoded %#v", op)
	}
	if _, err := r.DecodeOperation("ldap", "ldap.user.explode", json.RawMessage(`{}`)); app.ErrCode(err) != app.EINVALID ||
		!strings.Contains(app.ErrMessage(err), "unknown operation type") {
		t.Errorf("unknown type: %v", err)
	}
	if _, err := r.DecodeOperation("aws", "ldap.user.disable", json.RawMessage(`{"uid":"alice"}`)); err == nil {
		t.Error("an ldap operation decoded for another connector type")
	}
	specs := r.Operations("ldap")
	if len(specs) != 8 {
		t.Errorf("%d operation types", len(specs))
	}
	for _, s := range specs {
		if s.Description == "" || s.New == nil {
			t.Errorf("%s: incomplete spec", s.Type)
		}
		// Every field names a JSON field of the struct, and vice versa.
		b, _ := json.Marshal(s.New())
		var fields map[string]any
		_ = json.Unmarshal(b, &fields)
		for _, f := range s.Fields {
			if f.Label == "" || f.Help == "" || (f.Kind != app.FieldString && f.Kind != app.FieldList) {
				t.Errorf("%s.%s: incomplete field spec", s.Type, f.Name)
			}
			if _, ok := fields[f.Name]; !ok && f.Name != "groups" {
				t.Errorf("%s: field %s is not a parameter", s.Type, f.Name)
			}
			delete(fields, f.Name)
		}
		if len(fields) != 0 {
			t.Errorf("%s: parameters without a field spec: %v", s.Type, fields)
		}
	}
}

// A foreign Conn is an internal error, not a panic.
type otherConn struct{}

func (otherConn) Test(context.Context) (string, error) { return "", nil }
func (otherConn) Close() error                         { return nil }

func TestWrongConnType(t *testing.T) {
	t.Parallel()
	for _, s := range Operations() {
		op := s.New()
		if _, err := op.Plan(context.Background(), otherConn{}); app.ErrCode(err) != app.EINTERNAL {
			t.Errorf("%s Plan: %v", s.Type, err)
		}
		if _, err := op.Execute(context.Background(), otherConn{}); app.ErrCode(err) != app.EINTERNAL {
			t.Errorf("%s Execute: %v", s.Type, err)
		}
	}
}

func TestUserCreate(t *testing.T) {
	e := newEnv(t)
	const params = `{"uid":"carol","cn":"Carol Doe","sn":"Doe","mail":"carol@example.org","groups":["admins","devs"]}`
	plan := e.Plan(t, "ldap.user.create", params)
	wantContains(t, "plan", plan, "Will create uid=carol,ou=people,dc=example,dc=org (cn=Carol Doe, sn=Doe, mail=carol@example.org)",
		"top, person, organizationalPerson, inetOrgPerson", "20-character password", "2 groups: admins, devs")

	res := e.Exec(t, "ldap.user.create", params)
	password := string(res.Reveal)
	if len(password) != 20 {
		t.Fatalf("reveal is %d bytes", len(password))
	}
	noSecret(t, res, password)
	if res.NewCredentials != nil {
		t.Error("user create returned connector credentials")
	}
	if got := fmt.Sprint(res.Details["groups"]); got != "[admins devs]" {
		t.Errorf("details groups = %s", got)
	}
	dn := userDN("carol")
	if oc, _ := e.attr(t, dn, "objectClass"); !contains(oc, "inetOrgPerson") || !contains(oc, "organizationalPerson") {
		t.Errorf("objectClass = %v", oc)
	}
	if pw, _ := e.attr(t, dn, "userPassword"); len(pw) != 1 || !strings.HasPrefix(pw[0], "{SSHA}") {
		t.Errorf("userPassword = %v, want a server-side hash", pw)
	}
	for _, g := range []string{"admins", "devs"} {
		if !contains(e.members(t, g), dn) {
			t.Errorf("carol not in %s", g)
		}
	}
	e.wantBind(t, dn, password, true)

	// Plan and Execute refuse an existing uid.
	err := e.PlanErr(t, "ldap.user.create", params)
	if app.ErrCode(err) != app.ECONFLICT || !strings.Contains(app.ErrMessage(err), "uid=carol already exists") {
		t.Errorf("existing uid: %v", err)
	}
	if _, err := e.Op(t, "ldap.user.create", params).Execute(testCtx(t), e.conn); app.ErrCode(err) != app.ECONFLICT {
		t.Errorf("execute existing uid: %v", err)
	}
	// And a missing group.
	err = e.PlanErr(t, "ldap.user.create", `{"uid":"dave","cn":"Dave","sn":"D","mail":"d@example.org","groups":["admins","nope"]}`)
	if app.ErrCode(err) != app.ENOTFOUND || app.ErrMessage(err) != "no group with cn=nope under ou=groups,dc=example,dc=org" {
		t.Errorf("missing group: %v", err)
	}
	if _, err := e.Op(t, "ldap.user.create", `{"uid":"dave","cn":"Dave","sn":"D","mail":"d@example.org","groups":["nope"]}`).Execute(testCtx(t), e.conn); app.ErrCode(err) != app.ENOTFOUND {
		t.Errorf("execute missing group: %v", err)
	}
	if _, ok := e.attr(t, userDN("dave"), "uid"); ok {
		t.Error("dave was created despite the missing group")
	}
	// No groups at all is fine.
	res = e.Exec(t, "ldap.user.create", `{"uid":"erin","cn":"Erin Ö","sn":"Ö","mail":"erin@example.org"}`)
	e.wantBind(t, userDN("erin"), string(res.Reveal), true)
}

// noSecret fails if the secret appears anywhere but Reveal/NewCredentials.
func noSecret(t *testing.T, res *app.OpResult, secret string) {
	t.Helper()
	b, _ := json.Marshal(res.Details)
	if strings.Contains(res.Summary, secret) || strings.Contains(string(b), secret) {
		t.Errorf("secret leaked into summary/details: %q %s", res.Summary, b)
	}
}

func TestUserDisableEnable(t *testing.T) {
	e := newEnv(t)
	alice := userDN("alice")
	plan := e.Plan(t, "ldap.user.disable", `{"uid":"alice"}`)
	want := "Will lock uid=alice (cn=Alice Doe) by setting pwdAccountLockedTime to 000001010000Z (ppolicy's permanent lock: binds fail until it is removed); it is currently active and member of 2 groups: admins, devs (memberships are kept)."
	if plan != want {
		t.Errorf("plan = %q\nwant   %q", plan, want)
	}
	wantContains(t, "enable plan", e.Plan(t, "ldap.user.enable", `{"uid":"alice"}`), "uid=alice (cn=Alice Doe) is already active; nothing will change.")
	res := e.Exec(t, "ldap.user.enable", `{"uid":"alice"}`)
	if res.Details["changed"] != false || !strings.Contains(res.Summary, "no change") {
		t.Errorf("enable of active: %+v", res)
	}

	res = e.Exec(t, "ldap.user.disable", `{"uid":"alice"}`)
	if res.Summary != "locked uid=alice (cn=Alice Doe)" || res.Details["changed"] != true {
		t.Errorf("disable: %+v", res)
	}
	if v, _ := e.attr(t, alice, "pwdAccountLockedTime"); len(v) != 1 || v[0] != PermanentLock {
		t.Errorf("pwdAccountLockedTime = %v", v)
	}
	e.wantBind(t, alice, e.srv.UserPasswords["alice"], false) // ppolicy refuses the right password

	wantContains(t, "disable again plan", e.Plan(t, "ldap.user.disable", `{"uid":"alice"}`), "already permanently locked; nothing will change")
	res = e.Exec(t, "ldap.user.disable", `{"uid":"alice"}`)
	if res.Details["changed"] != false || !strings.Contains(res.Summary, "already locked; no change") {
		t.Errorf("second disable: %+v", res)
	}

	wantContains(t, "enable plan", e.Plan(t, "ldap.user.enable", `{"uid":"alice"}`),
		"Will unlock uid=alice (cn=Alice Doe) by removing pwdAccountLockedTime; it is currently locked (pwdAccountLockedTime 000001010000Z, permanent).")
	res = e.Exec(t, "ldap.user.enable", `{"uid":"alice"}`)
	if res.Summary != "unlocked uid=alice (cn=Alice Doe)" || res.Details["changed"] != true {
		t.Errorf("enable: %+v", res)
	}
	if v, _ := e.attr(t, alice, "pwdAccountLockedTime"); len(v) != 0 {
		t.Errorf("pwdAccountLockedTime after enable = %v", v)
	}
	e.wantBind(t, alice, e.srv.UserPasswords["alice"], true)

	for _, typ := range []string{"ldap.user.disable", "ldap.user.enable", "ldap.user.reset_password", "ldap.user.delete"} {
		err := e.PlanErr(t, typ, `{"uid":"nobody"}`)
		if app.ErrCode(err) != app.ENOTFOUND || app.ErrMessage(err) != "no user with uid=nobody under ou=people,dc=example,dc=org" {
			t.Errorf("%s of a missing user: %v", typ, err)
		}
		if _, err := e.Op(t, typ, `{"uid":"nobody"}`).Execute(testCtx(t), e.conn); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("%s execute of a missing user: %v", typ, err)
		}
	}
}

func TestUserResetPassword(t *testing.T) {
	e := newEnv(t)
	bob := userDN("bob")
	wantContains(t, "plan", e.Plan(t, "ldap.user.reset_password", `{"uid":"bob"}`),
		"Will set a new generated 20-character password on uid=bob (cn=Bob Roe)")
	res := e.Exec(t, "ldap.user.reset_password", `{"uid":"bob"}`)
	noSecret(t, res, string(res.Reveal))
	e.wantBind(t, bob, string(res.Reveal), true)
	e.wantBind(t, bob, e.srv.UserPasswords["bob"], false)

	e.Exec(t, "ldap.user.disable", `{"uid":"bob"}`)
	wantContains(t, "plan when locked", e.Plan(t, "ldap.user.reset_password", `{"uid":"bob"}`), "does not unlock it")
}

func TestUserDelete(t *testing.T) {
	e := newEnv(t)
	bob := userDN("bob")
	plan := e.Plan(t, "ldap.user.delete", `{"uid":"bob"}`)
	want := "Will delete uid=bob (cn=Bob Roe) (uid=bob,ou=people,dc=example,dc=org, mail=bob@example.org, currently active) after removing it from 1 group: devs. This cannot be undone."
	if plan != want {
		t.Errorf("plan = %q\nwant   %q", plan, want)
	}
	res := e.Exec(t, "ldap.user.delete", `{"uid":"bob"}`)
	if fmt.Sprint(res.Details["groups_removed_from"]) != "[devs]" {
		t.Errorf("details: %+v", res.Details)
	}
	if _, ok := e.attr(t, bob, "uid"); ok {
		t.Error("bob still exists")
	}
	if contains(e.members(t, "devs"), bob) {
		t.Error("bob is still a member of devs")
	}

	// alice is the only member of admins: refused before anything changes.
	err := e.PlanErr(t, "ldap.user.delete", `{"uid":"alice"}`)
	if app.ErrCode(err) != app.ECONFLICT || !strings.Contains(app.ErrMessage(err), "uid=alice (cn=Alice Doe) is the only member of admins") {
		t.Errorf("sole member: %v", err)
	}
	if _, err := e.Op(t, "ldap.user.delete", `{"uid":"alice"}`).Execute(testCtx(t), e.conn); app.ErrCode(err) != app.ECONFLICT {
		t.Errorf("execute sole member: %v", err)
	}
	if !contains(e.members(t, "devs"), userDN("alice")) {
		t.Error("alice was removed from devs although the delete was refused")
	}

	// A user in no group.
	e.Exec(t, "ldap.user.create", `{"uid":"carol","cn":"Carol","sn":"C","mail":"c@example.org"}`)
	wantContains(t, "plan", e.Plan(t, "ldap.user.delete", `{"uid":"carol"}`), "; it is in no group.")
	e.Exec(t, "ldap.user.delete", `{"uid":"carol"}`)
}

func TestGroupMembership(t *testing.T) {
	e := newEnv(t)
	bob := userDN("bob")
	wantContains(t, "add plan", e.Plan(t, "ldap.group.add_member", `{"group":"admins","uid":"bob"}`),
		"Will add uid=bob (cn=Bob Roe) to group admins (cn=admins,ou=groups,dc=example,dc=org), which has 1 member.")
	res := e.Exec(t, "ldap.group.add_member", `{"group":"admins","uid":"bob"}`)
	if res.Summary != "added uid=bob (cn=Bob Roe) to admins" || res.Details["changed"] != true {
		t.Errorf("add: %+v", res)
	}
	if !contains(e.members(t, "admins"), bob) {
		t.Error("bob not in admins")
	}
	// Idempotent, and case-insensitive on the group name.
	wantContains(t, "add plan again", e.Plan(t, "ldap.group.add_member", `{"group":"Admins","uid":"bob"}`), "is already a member of admins; nothing will change.")
	res = e.Exec(t, "ldap.group.add_member", `{"group":"admins","uid":"bob"}`)
	if res.Details["changed"] != false || !strings.Contains(res.Summary, "already a member of admins; no change") {
		t.Errorf("second add: %+v", res)
	}

	wantContains(t, "remove plan", e.Plan(t, "ldap.group.remove_member", `{"group":"admins","uid":"bob"}`),
		"Will remove uid=bob (cn=Bob Roe) from group admins (cn=admins,ou=groups,dc=example,dc=org), which has 2 members.")
	res = e.Exec(t, "ldap.group.remove_member", `{"group":"admins","uid":"bob"}`)
	if res.Details["changed"] != true {
		t.Errorf("remove: %+v", res)
	}
	if contains(e.members(t, "admins"), bob) {
		t.Error("bob still in admins")
	}
	wantContains(t, "remove plan again", e.Plan(t, "ldap.group.remove_member", `{"group":"admins","uid":"bob"}`), "is not a member of admins; nothing will change.")
	res = e.Exec(t, "ldap.group.remove_member", `{"group":"admins","uid":"bob"}`)
	if res.Details["changed"] != false || !strings.Contains(res.Summary, "no change") {
		t.Errorf("second remove: %+v", res)
	}

	// The last member cannot go.
	err := e.PlanErr(t, "ldap.group.remove_member", `{"group":"admins","uid":"alice"}`)
	if app.ErrCode(err) != app.ECONFLICT || !strings.Contains(app.ErrMessage(err), "only member of admins") {
		t.Errorf("last member: %v", err)
	}
	// Missing group or user.
	if err := e.PlanErr(t, "ldap.group.add_member", `{"group":"nope","uid":"bob"}`); app.ErrCode(err) != app.ENOTFOUND {
		t.Errorf("missing group: %v", err)
	}
	if err := e.PlanErr(t, "ldap.group.add_member", `{"group":"admins","uid":"nobody"}`); app.ErrCode(err) != app.ENOTFOUND {
		t.Errorf("missing user: %v", err)
	}

	// A dangling member value (entry deleted behind our back) can be removed.
	l := e.srv.Admin(t)
	if err := l.Del(newDel(bob)); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "dangling plan", e.Plan(t, "ldap.group.remove_member", `{"group":"devs","uid":"bob"}`), "a dangling member value")
	e.Exec(t, "ldap.group.remove_member", `{"group":"devs","uid":"bob"}`)
	if contains(e.members(t, "devs"), bob) {
		t.Error("dangling bob still in devs")
	}
}

func TestRotateCredentials(t *testing.T) {
	e := newEnv(t)
	wantContains(t, "plan", e.Plan(t, "connector.rotate_credentials", `{}`),
		"Will generate a new 32-character password for the bind account "+ldaptest.BindDN)
	res := e.Exec(t, "connector.rotate_credentials", `{}`)
	var creds Credentials
	if err := json.Unmarshal(res.NewCredentials, &creds); err != nil || len(creds.BindPassword) != 32 {
		t.Fatalf("new credentials: %v (%d chars)", err, len(creds.BindPassword))
	}
	if err := (Driver{}).ValidateCredentials(res.NewCredentials); err != nil {
		t.Error(err)
	}
	noSecret(t, res, creds.BindPassword)
	if res.Reveal != nil || res.Details["verified"] != true {
		t.Errorf("result: %+v", res)
	}
	e.wantBind(t, ldaptest.BindDN, creds.BindPassword, true)
	e.wantBind(t, ldaptest.BindDN, e.srv.BindPassword, false)
	if pw, _ := e.attr(t, ldaptest.BindDN, "userPassword"); len(pw) != 1 || !strings.HasPrefix(pw[0], "{SSHA}") {
		t.Errorf("bind userPassword = %v", pw)
	}
	// The connector works with the new credentials, and the open session
	// can rotate again (it now knows the new password as the old one).
	c, err := Driver{}.Connect(testCtx(t), e.srv.ConfigJSON(), res.NewCredentials)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	res2 := e.Exec(t, "connector.rotate_credentials", `{}`)
	if string(res2.NewCredentials) == string(res.NewCredentials) {
		t.Error("second rotation returned the same credentials")
	}

	// The rootdn is not an entry: Plan explains instead of failing later.
	var cfg map[string]any
	_ = json.Unmarshal(e.srv.ConfigJSON(), &cfg)
	cfg["bind_dn"] = e.srv.RootDN
	root, err := Driver{}.Connect(testCtx(t), cfgJSON(t, cfg), fmt.Appendf(nil, `{"bind_password":%q}`, e.srv.RootPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	_, err = e.Op(t, "connector.rotate_credentials", `{}`).Plan(testCtx(t), root)
	if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), "is not an entry in the directory") {
		t.Errorf("rootdn rotation: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Op(t, "ldap.user.disable", `{"uid":"alice"}`).Execute(ctx, e.conn)
	if app.ErrCode(err) != app.EUNAVAILABLE || !strings.Contains(app.ErrMessage(err), "cancelled") {
		t.Errorf("err = %v", err)
	}
	if v, _ := e.attr(t, userDN("alice"), "pwdAccountLockedTime"); len(v) != 0 {
		t.Error("a cancelled operation changed the directory")
	}
}

func TestInsufficientAccess(t *testing.T) {
	e := newEnv(t)
	// alice may read but not write: operations fail with a clear forbidden.
	var cfg map[string]any
	_ = json.Unmarshal(e.srv.ConfigJSON(), &cfg)
	cfg["bind_dn"] = userDN("alice")
	c, err := Driver{}.Connect(testCtx(t), cfgJSON(t, cfg), fmt.Appendf(nil, `{"bind_password":%q}`, e.srv.UserPasswords["alice"]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = e.Op(t, "ldap.group.add_member", `{"group":"admins","uid":"bob"}`).Execute(testCtx(t), c)
	if app.ErrCode(err) != app.EFORBIDDEN || !strings.Contains(app.ErrMessage(err), "insufficient access rights") {
		t.Errorf("err = %v", err)
	}
}
