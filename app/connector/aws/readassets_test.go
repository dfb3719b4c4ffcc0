package aws

import (
	"encoding/json"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestReadAssetsAgreesWithInventory: every asset read alone (users by ARN
// and by name, keys, groups) is exactly what Inventory reports, so a
// targeted sync never sees a change a full sync would not; deleted and
// unknown ones are absent (gone).
func TestReadAssetsAgreesWithInventory(t *testing.T) {
	e := newEnv(t)
	e.srv.CreateUser(t, "alice")
	k1, _ := e.srv.CreateAccessKey(t, "alice")
	k2, _ := e.srv.CreateAccessKey(t, "alice")
	e.srv.AttachUserPolicy(t, "alice", "arn:aws:iam::aws:policy/IAMFullAccess")
	e.srv.CreateGroup(t, "devs")
	e.srv.AttachGroupPolicy(t, "devs", "arn:aws:iam::aws:policy/ReadOnlyAccess")
	e.srv.AddUserToGroup(t, "alice", "devs")
	e.Exec(t, "aws.iam.access_key.delete", mustJSON(t, map[string]string{"user_name": "alice", "access_key_id": k2}))

	obs, err := e.conn.Inventory(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		refs := []app.AssetRef{{Kind: o.Kind, ExternalID: o.ExternalID}}
		if o.Kind == KindUser {
			refs = append(refs, app.AssetRef{Kind: o.Kind, ExternalID: o.Name})
		}
		for _, r := range refs {
			got, err := e.conn.ReadAssets(testCtx(t), []app.AssetRef{r})
			if err != nil {
				t.Fatalf("read %v: %v", r, err)
			}
			if len(got) != 1 || got[0].ExternalID != o.ExternalID || got[0].Name != o.Name || js(t, got[0].Attributes) != js(t, o.Attributes) {
				t.Errorf("read %v = %+v\ninventory %+v", r, got, o)
			}
		}
	}
	if indexName(obs, KindAccessKey, "alice/"+k1) < 0 || indexName(obs, KindGroup, "devs") < 0 {
		t.Errorf("inventory lacks %s or devs: %+v", k1, obs)
	}
	got, err := e.conn.ReadAssets(testCtx(t), []app.AssetRef{{Kind: KindAccessKey, ExternalID: k2},
		{Kind: KindUser, ExternalID: "nobody"}, {Kind: KindGroup, ExternalID: "arn:aws:iam::000000000000:group/none"}})
	if err != nil || len(got) != 0 {
		t.Errorf("deleted and unknown assets: %+v %v", got, err)
	}
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
