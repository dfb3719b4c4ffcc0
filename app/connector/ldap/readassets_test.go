package ldap

import (
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// TestReadAssetsAgreesWithInventory: every user and group read alone is
// exactly what Inventory reports (memberships included), so a targeted
// sync never sees a change a full sync would not; a deleted entry,
// a group asked for as a user and entries outside the bases are absent (gone).
func TestReadAssetsAgreesWithInventory(t *testing.T) {
	e := newEnv(t)
	l := e.srv.Admin(t)
	mod := ldap.NewModifyRequest("uid=bob,"+ldaptest.UserBase, nil)
	mod.Add("pwdAccountLockedTime", []string{"000001010000Z"})
	if err := l.Modify(mod); err != nil {
		t.Fatal(err)
	}
	obs := e.inventory(t)
	r, ok := e.conn.(app.AssetReader)
	if !ok {
		t.Fatalf("%T does not implement app.AssetReader", e.conn)
	}
	for _, o := range obs {
		got, err := r.ReadAssets(testCtx(t), []app.AssetRef{{Kind: o.Kind, ExternalID: o.ExternalID}})
		if err != nil {
			t.Fatalf("read %s: %v", o.ExternalID, err)
		}
		if len(got) != 1 || got[0].ExternalID != o.ExternalID || got[0].Name != o.Name || attrsJSON(t, got[0]) != attrsJSON(t, o) {
			t.Errorf("read %s = %+v\ninventory %+v", o.ExternalID, got, o)
		}
	}
	if err := l.Del(ldap.NewDelRequest("uid=bob,"+ldaptest.UserBase, nil)); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadAssets(testCtx(t), []app.AssetRef{
		{Kind: KindUser, ExternalID: normDN("uid=bob," + ldaptest.UserBase)},    // deleted
		{Kind: KindUser, ExternalID: normDN("cn=devs," + ldaptest.GroupBase)},   // a group asked for as a user
		{Kind: KindGroup, ExternalID: normDN("uid=alice," + ldaptest.UserBase)}, // outside group_base
		{Kind: KindUser, ExternalID: normDN(ldaptest.BindDN)},                   // outside user_base
	})
	if err != nil || len(got) != 0 {
		t.Errorf("gone or foreign entries: %+v %v", got, err)
	}
}
