package ldap

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

func (e *env) inventory(t *testing.T) []app.Observation {
	t.Helper()
	ic, ok := e.conn.(app.InventoryConn)
	if !ok {
		t.Fatalf("%T does not implement app.InventoryConn", e.conn)
	}
	obs, err := ic.Inventory(testCtx(t))
	if err != nil {
		t.Fatalf("inventory: %v", err)
	}
	return obs
}

// byID indexes observations by kind and external id, failing on duplicates.
func byID(t *testing.T, obs []app.Observation) map[string]app.Observation {
	t.Helper()
	m := map[string]app.Observation{}
	for _, o := range obs {
		k := o.Kind + " " + o.ExternalID
		if _, dup := m[k]; dup {
			t.Errorf("duplicate observation %s", k)
		}
		m[k] = o
	}
	return m
}

// attrsJSON is the attributes as the store would keep them.
func attrsJSON(t *testing.T, o app.Observation) string {
	t.Helper()
	b, err := json.Marshal(o.Attributes)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInventory(t *testing.T) {
	e := newEnv(t)
	admin := e.srv.Admin(t)
	// Lock alice behind the connector's back, as an administrator would.
	lock := ldap.NewModifyRequest(userDN("alice"), nil)
	lock.Replace("pwdAccountLockedTime", []string{PermanentLock})
	if err := admin.Modify(lock); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-2 * time.Second)
	e.Exec(t, "ldap.user.reset_password", `{"uid":"bob"}`)

	obs := e.inventory(t)
	if len(obs) != 4 {
		t.Fatalf("%d observations, want 2 users and 2 groups: %+v", len(obs), obs)
	}
	m := byID(t, obs)
	alice, ok := m["ldap.user uid=alice,ou=people,dc=example,dc=org"]
	if !ok {
		t.Fatalf("no alice in %v", obs)
	}
	if alice.Name != "alice" {
		t.Errorf("alice name = %q", alice.Name)
	}
	a := alice.Attributes
	if a["uid"] != "alice" || a["cn"] != "Alice Doe" || a["mail"] != "alice@example.org" ||
		a["locked"] != true || a["locked_since"] != PermanentLock ||
		!reflect.DeepEqual(a["groups"], []string{"admins", "devs"}) {
		t.Errorf("alice attributes = %s", attrsJSON(t, alice))
	}

	bob := m["ldap.user uid=bob,ou=people,dc=example,dc=org"]
	b := bob.Attributes
	if bob.Name != "bob" || b["locked"] != false || b["locked_since"] != nil || !reflect.DeepEqual(b["groups"], []string{"devs"}) {
		t.Errorf("bob = %+v", bob)
	}
	changed, ok := b["password_changed"].(string)
	if !ok {
		t.Fatalf("bob password_changed = %#v, want an RFC 3339 time after the reset", b["password_changed"])
	}
	ct, err := time.Parse(time.RFC3339, changed)
	if err != nil || ct.Before(before) || ct.After(time.Now().Add(2*time.Second)) || !strings.HasSuffix(changed, "Z") {
		t.Errorf("bob password_changed = %q (%v), want about now in UTC", changed, err)
	}
	// The operational attribute really is what we report.
	if v, _ := e.attr(t, userDN("bob"), "pwdChangedTime"); len(v) != 1 {
		t.Errorf("pwdChangedTime of bob = %v", v)
	}

	admins := m["ldap.group cn=admins,ou=groups,dc=example,dc=org"]
	if admins.Name != "admins" || admins.Attributes["cn"] != "admins" ||
		!reflect.DeepEqual(admins.Attributes["members"], []string{userDN("alice")}) {
		t.Errorf("admins = %+v", admins)
	}
	devs := m["ldap.group cn=devs,ou=groups,dc=example,dc=org"]
	if !reflect.DeepEqual(devs.Attributes["members"], []string{userDN("alice"), userDN("bob")}) {
		t.Errorf("devs = %+v", devs)
	}

	// Deterministic: a second read is identical, attribute JSON included.
	again := e.inventory(t)
	if !reflect.DeepEqual(obs, again) {
		t.Errorf("second inventory differs:\n%+v\n%+v", obs, again)
	}
	for i := range obs {
		if attrsJSON(t, obs[i]) != attrsJSON(t, again[i]) {
			t.Errorf("attributes of %s differ between syncs", obs[i].ExternalID)
		}
	}

	// What the sync would store, judged by the rules: alice is locked
	// but still in admins (and devs, which is not privileged by default).
	var assets []app.Asset
	for i, o := range obs {
		assets = append(assets, app.Asset{ID: int64(i + 1), Kind: o.Kind, ExternalID: o.ExternalID, Name: o.Name,
			Attributes: json.RawMessage(attrsJSON(t, o))})
	}
	cfg, err := Driver{}.ValidateConfig(e.srv.ConfigJSON())
	if err != nil {
		t.Fatal(err)
	}
	fs := Driver{}.Findings(cfg, assets, time.Now())
	if len(fs) != 1 || fs[0].Rule != RuleLockedButPrivileged || fs[0].RemedyType != "ldap.group.remove_member" ||
		string(fs[0].RemedyParams) != `{"group":"admins","uid":"alice"}` {
		t.Errorf("findings = %+v", fs)
	}
	// Bob's fresh password is too old only for a clock far ahead.
	fs = Driver{}.Findings(cfg, assets, time.Now().Add(91*24*time.Hour))
	var rules []string
	for _, f := range fs {
		rules = append(rules, f.Rule+" "+string(f.RemedyParams))
	}
	if !contains(rules, RulePasswordTooOld+` {"uid":"bob"}`) {
		t.Errorf("findings 91 days later = %v", rules)
	}

	// Revoking the inventoried account is locking it.
	typ, params, ok := Driver{}.RevokeOperation(&assets[indexOf(obs, KindUser, userDN("bob"))])
	if !ok || typ != "ldap.user.disable" {
		t.Fatalf("revoke = %q %s %v", typ, params, ok)
	}
	e.Exec(t, typ, string(params))
	if v, _ := e.attr(t, userDN("bob"), "pwdAccountLockedTime"); len(v) != 1 || v[0] != PermanentLock {
		t.Errorf("bob after revoke: pwdAccountLockedTime = %v", v)
	}
}

func indexOf(obs []app.Observation, kind, id string) int {
	for i, o := range obs {
		if o.Kind == kind && o.ExternalID == id {
			return i
		}
	}
	return -1
}

// TestInventoryPaging reads more users than one page and than slapd's
// default size limit (500), as the non-root service account.
func TestInventoryPaging(t *testing.T) {
	e := newEnv(t)
	admin := e.srv.Admin(t)
	const n = 1100
	var members []string
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("user%04d", i)
		req := ldap.NewAddRequest(userDN(uid), nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
		req.Attribute("uid", []string{uid})
		req.Attribute("cn", []string{"User " + uid})
		req.Attribute("sn", []string{"User"})
		if err := admin.Add(req); err != nil {
			t.Fatalf("add %s: %v", uid, err)
		}
		if i%2 == 0 {
			members = append(members, userDN(uid))
		}
	}
	big := ldap.NewAddRequest("cn=many,"+ldaptest.GroupBase, nil)
	big.Attribute("objectClass", []string{"top", "groupOfNames"})
	big.Attribute("cn", []string{"many"})
	big.Attribute("member", members)
	if err := admin.Add(big); err != nil {
		t.Fatal(err)
	}

	for _, size := range []uint32{0, 97} { // default (500) and a small page
		e.conn.(*conn).pageSize = size
		obs := e.inventory(t)
		if len(obs) != n+2+3 {
			t.Fatalf("page size %d: %d observations, want %d", size, len(obs), n+5)
		}
		m := byID(t, obs)
		many := m["ldap.group cn=many,ou=groups,dc=example,dc=org"]
		if got := many.Attributes["members"].([]string); len(got) != n/2 || got[0] != userDN("user0000") {
			t.Errorf("page size %d: many has %d members", size, len(got))
		}
		if g := m["ldap.user "+userDN("user0998")].Attributes["groups"]; !reflect.DeepEqual(g, []string{"many"}) {
			t.Errorf("page size %d: user0998 groups = %v", size, g)
		}
		if g := m["ldap.user "+userDN("user0999")].Attributes["groups"]; !reflect.DeepEqual(g, []string{}) {
			t.Errorf("page size %d: user0999 groups = %#v", size, g)
		}
	}

	// An account without the service account's raised limit is cut off at
	// 500: the inventory fails rather than returning a partial list.
	cfg := map[string]any{}
	if err := json.Unmarshal(e.srv.ConfigJSON(), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["bind_dn"] = userDN("bob")
	raw, _ := json.Marshal(cfg)
	creds, _ := json.Marshal(map[string]string{"bind_password": e.srv.UserPasswords["bob"]})
	c, err := Driver{}.Connect(testCtx(t), raw, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	obs, err := c.(app.InventoryConn).Inventory(testCtx(t))
	if obs != nil || app.ErrCode(err) != app.EUNAVAILABLE ||
		!strings.Contains(app.ErrMessage(err), "stopped after 500 entries (size limit exceeded)") ||
		!strings.Contains(app.ErrMessage(err), "size.prtotal=unlimited") {
		t.Errorf("limited inventory = %d observations, %v", len(obs), err)
	}
}

func TestNormDN(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"uid=alice,ou=people,dc=example,dc=org":        "uid=alice,ou=people,dc=example,dc=org",
		"UID=Alice, OU=People,DC=Example,DC=org":       "uid=alice,ou=people,dc=example,dc=org",
		`cn=Doe\, John,ou=people,dc=example,dc=org`:    `cn=doe\, john,ou=people,dc=example,dc=org`,
		"cn=a+uid=b,dc=org":                            "cn=a+uid=b,dc=org",
		"uid=b+cn=a,dc=org":                            "cn=a+uid=b,dc=org",
		"not a dn":                                     "not a dn",
		"uid=alice,ou=people,dc=example,dc=org ":       "uid=alice,ou=people,dc=example,dc=org",
		"uid=alice , ou=people , dc=example , dc=org ": "uid=alice,ou=people,dc=example,dc=org",
	} {
		if got := normDN(in); got != want {
			t.Errorf("normDN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseGeneralizedTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 1, 31, 12, 0, 5, 0, time.UTC)
	for _, s := range []string{"20240131120005Z", "20240131120005.000000Z", "20240131130005+0100"} {
		got, ok := parseGeneralizedTime(s)
		if !ok || !got.Equal(want) {
			t.Errorf("%q = %v %v", s, got, ok)
		}
	}
	if _, ok := parseGeneralizedTime("yesterday"); ok {
		t.Error("garbage parsed")
	}
}

// affectsOf reads Details["affects"] as the sync will: through JSON.
func affectsOf(t *testing.T, res *app.OpResult) []string {
	t.Helper()
	b, err := json.Marshal(res.Details["affects"])
	if err != nil {
		t.Fatal(err)
	}
	var refs []struct {
		Kind       string `json:"kind"`
		ExternalID string `json:"external_id"`
	}
	if err := json.Unmarshal(b, &refs); err != nil || refs == nil {
		t.Fatalf("affects = %s (%v), want a JSON array", b, err)
	}
	out := []string{}
	for _, r := range refs {
		out = append(out, r.Kind+" "+r.ExternalID)
	}
	// OpResult.Affects names the same refs.
	var fromField []string
	for _, r := range res.Affects {
		fromField = append(fromField, r.Kind+" "+r.ExternalID)
	}
	if len(fromField) != len(out) || (len(out) > 0 && !reflect.DeepEqual(fromField, out)) {
		t.Errorf("OpResult.Affects = %v, Details[affects] = %v", res.Affects, out)
	}
	return out
}

func TestOperationsAffects(t *testing.T) {
	e := newEnv(t)
	u := func(uid string) string { return "ldap.user " + userDN(uid) }
	g := func(cn string) string { return "ldap.group cn=" + cn + "," + ldaptest.GroupBase }
	steps := []struct {
		typ, params string
		want        []string
	}{
		{"ldap.user.create", `{"uid":"carol","cn":"Carol Doe","sn":"Doe","mail":"carol@example.org","groups":["devs","Admins"]}`,
			[]string{u("carol"), g("devs"), g("admins")}},
		{"ldap.user.disable", `{"uid":"carol"}`, []string{u("carol")}},
		{"ldap.user.disable", `{"uid":"carol"}`, []string{}}, // already locked: nothing changed
		{"ldap.user.enable", `{"uid":"carol"}`, []string{u("carol")}},
		{"ldap.user.enable", `{"uid":"carol"}`, []string{}},
		{"ldap.user.reset_password", `{"uid":"carol"}`, []string{u("carol")}},
		{"ldap.group.remove_member", `{"group":"admins","uid":"carol"}`, []string{u("carol"), g("admins")}},
		{"ldap.group.remove_member", `{"group":"admins","uid":"carol"}`, []string{}},
		{"ldap.group.add_member", `{"group":"admins","uid":"bob"}`, []string{u("bob"), g("admins")}},
		{"ldap.group.add_member", `{"group":"admins","uid":"bob"}`, []string{}},
		{"ldap.user.delete", `{"uid":"carol"}`, []string{u("carol"), g("devs")}},
		// The test bind account lives under ou=services, not user_base.
		{"connector.rotate_credentials", `{}`, []string{}},
	}
	for _, s := range steps {
		res := e.Exec(t, s.typ, s.params)
		if got := affectsOf(t, res); !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s %s: affects = %v, want %v", s.typ, s.params, got, s.want)
		}
	}

	// The refs use Inventory's external ids.
	ids := map[string]bool{}
	for _, o := range e.inventory(t) {
		ids[o.Kind+" "+o.ExternalID] = true
	}
	for _, want := range []string{u("bob"), g("admins"), g("devs")} {
		if !ids[want] {
			t.Errorf("inventory has no %s; ids = %v", want, ids)
		}
	}
}

// TestRotateAffectsBindUser: a bind account that is a user under user_base
// is named by connector.rotate_credentials.
func TestRotateAffectsBindUser(t *testing.T) {
	e := newEnv(t)
	// Bind as bob (the ACL lets every account write its own userPassword),
	// with his DN spelled in another case and spacing.
	cfg := map[string]any{}
	if err := json.Unmarshal(e.srv.ConfigJSON(), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["bind_dn"] = "UID=Bob, ou=people,dc=example,dc=org"
	raw, _ := json.Marshal(cfg)
	creds, _ := json.Marshal(map[string]string{"bind_password": e.srv.UserPasswords["bob"]})
	c, err := Driver{}.Connect(testCtx(t), raw, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	op := e.Op(t, "connector.rotate_credentials", `{}`)
	res, err := op.Execute(testCtx(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := affectsOf(t, res); !reflect.DeepEqual(got, []string{"ldap.user " + userDN("bob")}) {
		t.Errorf("affects = %v", got)
	}
}
