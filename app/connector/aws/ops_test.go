package aws

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/aws/awstest"
)

const adminARN = "arn:aws:iam::aws:policy/AdministratorAccess"

func TestValidateParams(t *testing.T) {
	t.Parallel()
	reg := app.NewRegistry()
	Register(reg)
	good := []struct{ typ, params string }{
		{"aws.iam.access_key.create", `{"user_name":"alice+ops=1,x.y@z-w_"}`},
		{"aws.iam.access_key.deactivate", `{"user_name":"alice","access_key_id":"AKIAIOSFODNN7EXAMPLE"}`},
		{"aws.iam.access_key.activate", `{"user_name":"alice","access_key_id":"AKIAIOSFODNN7EXAMPLE"}`},
		{"aws.iam.access_key.delete", `{"user_name":"alice","access_key_id":"AKIAIOSFODNN7EXAMPLE"}`},
		{"aws.iam.access_key.rotate", `{"user_name":"alice","access_key_id":"AKIAIOSFODNN7EXAMPLE"}`},
		{"aws.iam.user_policy.attach", `{"user_name":"alice","policy_arn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}`},
		{"aws.iam.user_policy.detach", `{"user_name":"alice","policy_arn":"arn:aws-us-gov:iam::123456789012:policy/team/x"}`},
		{"aws.iam.user.add_to_group", `{"user_name":"alice","group_name":"` + strings.Repeat("g", 128) + `"}`},
		{"aws.iam.user.remove_from_group", `{"user_name":"alice","group_name":"devs"}`},
		{"connector.rotate_credentials", `{}`},
	}
	for _, g := range good {
		if _, err := reg.DecodeOperation(Type, g.typ, json.RawMessage(g.params)); err != nil {
			t.Errorf("%s %s: %v", g.typ, g.params, err)
		}
	}
	key := func(user, id string) string { return `{"user_name":"` + user + `","access_key_id":"` + id + `"}` }
	bad := []struct{ typ, params, want string }{
		{"aws.iam.access_key.create", `{}`, "user_name is required"},
		{"aws.iam.access_key.create", `{"user_name":"` + strings.Repeat("a", 65) + `"}`, "is not an IAM user name"},
		{"aws.iam.access_key.create", `{"user_name":"a b"}`, `user_name "a b" is not an IAM user name`},
		{"aws.iam.access_key.create", `{"user_name":"a/b"}`, "is not an IAM user name"},
		{"aws.iam.access_key.deactivate", key("alice", ""), "access_key_id is required"},
		{"aws.iam.access_key.deactivate", key("alice", "akiaiosfodnn7example"), "access_key_id is not an access key id"},
		{"aws.iam.access_key.delete", key("alice", "AKIA123"), "access_key_id is not an access key id"},
		{"aws.iam.access_key.rotate", key("", "AKIAIOSFODNN7EXAMPLE"), "user_name is required"},
		{"aws.iam.user_policy.attach", `{"user_name":"alice","policy_arn":"AdministratorAccess"}`, "is not a managed policy ARN"},
		{"aws.iam.user_policy.attach", `{"user_name":"alice","policy_arn":"arn:aws:iam::12345:policy/x"}`, "is not a managed policy ARN"},
		{"aws.iam.user_policy.detach", `{"user_name":"alice","policy_arn":"arn:aws:iam::aws:role/x"}`, "is not a managed policy ARN"},
		{"aws.iam.user_policy.detach", `{"user_name":"alice"}`, "policy_arn is required"},
		{"aws.iam.user.add_to_group", `{"user_name":"alice","group_name":"a;b"}`, "is not an IAM group name"},
		{"aws.iam.user.remove_from_group", `{"user_name":"alice"}`, "group_name is required"},
		{"aws.iam.access_key.create", `{"user_name":"alice","secret":"x"}`, `unknown field "secret"`},
		{"connector.rotate_credentials", `{"access_key_id":"x"}`, `unknown field "access_key_id"`},
	}
	for _, b := range bad {
		_, err := reg.DecodeOperation(Type, b.typ, json.RawMessage(b.params))
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), b.want) {
			t.Errorf("%s %s: err = %v\nwant invalid containing %q", b.typ, b.params, err, b.want)
		}
	}
	if len(reg.Operations(Type)) != 10 {
		t.Errorf("registered %d operations", len(reg.Operations(Type)))
	}
	for _, s := range reg.Operations(Type) {
		if _, ok := s.New().(app.AffectsAssets); !ok {
			t.Errorf("%s does not implement AffectsAssets", s.Type)
		}
	}
}

func TestKeyCreate(t *testing.T) {
	e := newEnv(t)
	e.srv.CreateUser(t, "alice")
	wantContains(t, "plan", e.Plan(t, "aws.iam.access_key.create", `{"user_name":"alice"}`), "Will create a new active access key for IAM user alice", "no access keys")
	res := e.Exec(t, "aws.iam.access_key.create", `{"user_name":"alice"}`)
	var creds Credentials
	if err := json.Unmarshal(res.Reveal, &creds); err != nil || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		t.Fatalf("reveal = %v (%v)", len(res.Reveal), err)
	}
	noSecret(t, creds.SecretAccessKey, res)
	wantContains(t, "summary", res.Summary, "created access key "+creds.AccessKeyID+" for IAM user alice")
	if e.keys(t, "alice")[creds.AccessKeyID] != "Active" {
		t.Errorf("keys = %v", e.keys(t, "alice"))
	}
	// The revealed key works.
	if _, err := e.srv.STS(creds.AccessKeyID, creds.SecretAccessKey).GetCallerIdentity(testCtx(t), nil); err != nil {
		t.Errorf("new key does not authenticate: %v", err)
	}

	// Second key fine, third refused in Plan and Execute with nothing created.
	e.Exec(t, "aws.iam.access_key.create", `{"user_name":"alice"}`)
	err := e.PlanErr(t, "aws.iam.access_key.create", `{"user_name":"alice"}`)
	wantErr(t, err, app.ECONFLICT, "IAM user alice already has 2 access keys", "AWS's limit", "delete one first")
	wantErr(t, e.ExecErr(t, "aws.iam.access_key.create", `{"user_name":"alice"}`), app.ECONFLICT, "already has 2 access keys")
	if n := len(e.keys(t, "alice")); n != 2 {
		t.Errorf("alice has %d keys", n)
	}
	// Unknown user: not found, named.
	wantErr(t, e.PlanErr(t, "aws.iam.access_key.create", `{"user_name":"nobody"}`), app.ENOTFOUND, "IAM user nobody", "NoSuchEntity")
}

func TestKeyStatusAndDelete(t *testing.T) {
	e := newEnv(t)
	e.srv.CreateUser(t, "bob")
	id, _ := e.srv.CreateAccessKey(t, "bob")
	p := mustJSON(t, map[string]string{"user_name": "bob", "access_key_id": id})

	wantContains(t, "plan", e.Plan(t, "aws.iam.access_key.deactivate", p), "Will deactivate access key "+id+" of IAM user bob")
	res := e.Exec(t, "aws.iam.access_key.deactivate", p)
	wantContains(t, "summary", res.Summary, "deactivated access key "+id)
	if st := e.keys(t, "bob")[id]; st != "Inactive" {
		t.Fatalf("status after deactivate = %q", st)
	}
	wantContains(t, "plan", e.Plan(t, "aws.iam.access_key.deactivate", p), "already inactive; nothing will change")
	res = e.Exec(t, "aws.iam.access_key.deactivate", p)
	if res.Details["changed"] != false || !strings.Contains(res.Summary, "already inactive; no change") {
		t.Errorf("second deactivate = %+v", res)
	}

	wantContains(t, "plan", e.Plan(t, "aws.iam.access_key.activate", p), "Will activate access key "+id)
	e.Exec(t, "aws.iam.access_key.activate", p)
	if st := e.keys(t, "bob")[id]; st != "Active" {
		t.Fatalf("status after activate = %q", st)
	}
	wantContains(t, "plan", e.Plan(t, "aws.iam.access_key.activate", p), "already active")

	wantContains(t, "plan", e.Plan(t, "aws.iam.access_key.delete", p), "Will permanently delete access key "+id, "It is ACTIVE")
	e.Exec(t, "aws.iam.access_key.delete", p)
	if _, ok := e.keys(t, "bob")[id]; ok {
		t.Fatal("key still there after delete")
	}
	// A key that no longer exists: clear not-found errors.
	wantErr(t, e.PlanErr(t, "aws.iam.access_key.deactivate", p), app.ENOTFOUND, "IAM user bob has no access key "+id)
	wantErr(t, e.ExecErr(t, "aws.iam.access_key.delete", p), app.ENOTFOUND, "has no access key "+id)

	// The connector's own key is protected.
	own := mustJSON(t, map[string]string{"user_name": awstest.ConnectorUser, "access_key_id": e.srv.ConnectorAccessKeyID})
	for _, typ := range []string{"aws.iam.access_key.deactivate", "aws.iam.access_key.delete", "aws.iam.access_key.rotate"} {
		wantErr(t, e.PlanErr(t, typ, own), app.ECONFLICT, "this connector's own key", "connector.rotate_credentials")
	}
}

func TestKeyRotate(t *testing.T) {
	e := newEnv(t)
	e.srv.CreateUser(t, "carol")
	old, _ := e.srv.CreateAccessKey(t, "carol")
	p := mustJSON(t, map[string]string{"user_name": "carol", "access_key_id": old})
	wantContains(t, "plan", e.Plan(t, "aws.iam.access_key.rotate", p), "Will create a new access key for IAM user carol", "then deactivate the old key "+old, "separate operation")
	res := e.Exec(t, "aws.iam.access_key.rotate", p)
	var creds Credentials
	if err := json.Unmarshal(res.Reveal, &creds); err != nil || creds.SecretAccessKey == "" {
		t.Fatalf("reveal: %v", err)
	}
	noSecret(t, creds.SecretAccessKey, res)
	keys := e.keys(t, "carol")
	if keys[old] != "Inactive" || keys[creds.AccessKeyID] != "Active" || len(keys) != 2 {
		t.Errorf("keys after rotate = %v (old %s, new %s)", keys, old, creds.AccessKeyID)
	}
	if res.Details["new_access_key_id"] != creds.AccessKeyID || res.Details["old_access_key_id"] != old {
		t.Errorf("details = %v", res.Details)
	}
	if len(res.Affects) != 2 || res.Affects[0] != keyRef(old) || res.Affects[1] != keyRef(creds.AccessKeyID) {
		t.Errorf("affects = %v", res.Affects)
	}

	// Two keys now: rotating either is refused before anything is created.
	for _, typ := range []string{"plan", "exec"} {
		var err error
		if typ == "plan" {
			err = e.PlanErr(t, "aws.iam.access_key.rotate", p)
		} else {
			err = e.ExecErr(t, "aws.iam.access_key.rotate", p)
		}
		wantErr(t, err, app.ECONFLICT, "already has 2 access keys", "AWS's limit", "delete the other key first")
	}
	if len(e.keys(t, "carol")) != 2 {
		t.Errorf("a refused rotation created a key: %v", e.keys(t, "carol"))
	}
}

func TestKeyRotateCompensates(t *testing.T) {
	e := newEnv(t)
	e.srv.CreateUser(t, "dave")
	old, _ := e.srv.CreateAccessKey(t, "dave")
	p := mustJSON(t, map[string]string{"user_name": "dave", "access_key_id": old})

	// Deactivating the old key fails: the new key is deleted again.
	e.srv.FailNext("UpdateAccessKey", "AccessDenied")
	err := e.ExecErr(t, "aws.iam.access_key.rotate", p)
	wantErr(t, err, app.EFORBIDDEN, "created new key", "deactivating the old key failed, so the old key is still active", "AccessDenied", "was deleted again, so nothing changed")
	if keys := e.keys(t, "dave"); len(keys) != 1 || keys[old] != "Active" {
		t.Errorf("after compensation keys = %v", keys)
	}

	// And if deleting it fails too, the error names the key to delete.
	e.srv.FailNext("UpdateAccessKey", "AccessDenied")
	e.srv.FailNext("DeleteAccessKey", "AccessDenied")
	err = e.ExecErr(t, "aws.iam.access_key.rotate", p)
	keys := e.keys(t, "dave")
	var leftover string
	for id := range keys {
		if id != old {
			leftover = id
		}
	}
	if leftover == "" || keys[old] != "Active" {
		t.Fatalf("keys = %v", keys)
	}
	wantErr(t, err, app.EFORBIDDEN, "deleting the new key again failed too", "still has the new key "+leftover, "aws.iam.access_key.delete")
}

func TestPolicyAttachDetach(t *testing.T) {
	e := newEnv(t)
	e.srv.CreateUser(t, "erin")
	custom := e.srv.CreatePolicy(t, "team-read", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}`)
	for _, arn := range []string{custom, adminARN} {
		p := mustJSON(t, map[string]string{"user_name": "erin", "policy_arn": arn})
		plan := e.Plan(t, "aws.iam.user_policy.attach", p)
		wantContains(t, "plan", plan, "Will attach managed policy "+arn+" to IAM user erin")
		if arn == adminARN {
			wantContains(t, "plan", plan, "WARNING")
		}
		e.Exec(t, "aws.iam.user_policy.attach", p)
		if !contains(e.attached(t, "erin"), arn) {
			t.Errorf("%s not attached: %v", arn, e.attached(t, "erin"))
		}
		if res := e.Exec(t, "aws.iam.user_policy.attach", p); res.Details["changed"] != false {
			t.Errorf("re-attach changed: %+v", res)
		}
		wantContains(t, "plan", e.Plan(t, "aws.iam.user_policy.detach", p), "Will detach managed policy "+arn)
		e.Exec(t, "aws.iam.user_policy.detach", p)
		if contains(e.attached(t, "erin"), arn) {
			t.Errorf("%s still attached", arn)
		}
		wantContains(t, "plan", e.Plan(t, "aws.iam.user_policy.detach", p), "is not attached", "nothing will change")
	}
	missing := mustJSON(t, map[string]string{"user_name": "erin", "policy_arn": "arn:aws:iam::123456789012:policy/nope"})
	wantErr(t, e.ExecErr(t, "aws.iam.user_policy.attach", missing), app.ENOTFOUND, "attaching arn:aws:iam::123456789012:policy/nope to IAM user erin", "NoSuchEntity")
}

func TestGroupMembership(t *testing.T) {
	e := newEnv(t)
	e.srv.CreateUser(t, "frank")
	e.srv.CreateGroup(t, "devs")
	p := `{"user_name":"frank","group_name":"devs"}`
	wantContains(t, "plan", e.Plan(t, "aws.iam.user.add_to_group", p), "Will add IAM user frank (in no groups) to group devs")
	e.Exec(t, "aws.iam.user.add_to_group", p)
	if g := e.groupsOf(t, "frank"); len(g) != 1 || g[0] != "devs" {
		t.Errorf("groups = %v", g)
	}
	wantContains(t, "plan", e.Plan(t, "aws.iam.user.add_to_group", p), "already in group devs")
	wantContains(t, "plan", e.Plan(t, "aws.iam.user.remove_from_group", p), "Will remove IAM user frank from group devs")
	e.Exec(t, "aws.iam.user.remove_from_group", p)
	if g := e.groupsOf(t, "frank"); len(g) != 0 {
		t.Errorf("groups after remove = %v", g)
	}
	if res := e.Exec(t, "aws.iam.user.remove_from_group", p); res.Details["changed"] != false {
		t.Errorf("second remove = %+v", res)
	}
	wantErr(t, e.PlanErr(t, "aws.iam.user.add_to_group", `{"user_name":"frank","group_name":"nope"}`), app.ENOTFOUND, "IAM group nope")
}

func TestRotateCredentials(t *testing.T) {
	e := newEnv(t)
	old := e.srv.ConnectorAccessKeyID
	wantContains(t, "plan", e.Plan(t, "connector.rotate_credentials", `{}`),
		"connector's own IAM user nexplane ("+e.srv.ConnectorUserARN+")", "then delete the current key "+old)
	res := e.Exec(t, "connector.rotate_credentials", `{}`)
	var creds Credentials
	if err := json.Unmarshal(res.NewCredentials, &creds); err != nil || creds.SecretAccessKey == "" {
		t.Fatalf("new credentials: %v", err)
	}
	if err := (Driver{}).ValidateCredentials(res.NewCredentials); err != nil {
		t.Errorf("new credentials do not validate: %v", err)
	}
	noSecret(t, creds.SecretAccessKey, res)
	if res.Reveal != nil || res.Details["old_key_deleted"] != true {
		t.Errorf("result = %+v", res)
	}
	keys := e.keys(t, awstest.ConnectorUser)
	if _, ok := keys[old]; ok || keys[creds.AccessKeyID] != "Active" || len(keys) != 1 {
		t.Errorf("keys after rotation = %v (old %s)", keys, old)
	}
	// The new credentials work in a fresh connection; the open one was
	// switched to them; the old key is refused.
	c2, err := testDriver.Connect(testCtx(t), e.srv.ConfigJSON(), res.NewCredentials)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Test(testCtx(t)); err != nil {
		t.Errorf("new credentials: %v", err)
	}
	if _, err := e.conn.Test(testCtx(t)); err != nil {
		t.Errorf("open connection after rotation: %v", err)
	}
	_, err = e.srv.STS(old, e.srv.ConnectorSecretAccessKey).GetCallerIdentity(testCtx(t), nil)
	if err == nil || !strings.Contains(err.Error(), "InvalidClientTokenId") {
		t.Errorf("old key still works: %v", err)
	}

	// Deleting the old key fails: still success, with the new credentials.
	before := e.conn.creds.current().AccessKeyID
	e.srv.FailNext("DeleteAccessKey", "AccessDenied")
	res = e.Exec(t, "connector.rotate_credentials", `{}`)
	if res.NewCredentials == nil || res.Details["old_key_deleted"] != false || res.Details["old_access_key_id"] != before {
		t.Errorf("result = %+v", res)
	}
	wantContains(t, "summary", res.Summary, "deleting the old key "+before+" failed", "still active")

	// Two keys now (the undeleted one): the next rotation is refused.
	wantErr(t, e.PlanErr(t, "connector.rotate_credentials", `{}`), app.ECONFLICT, "already has 2 access keys")
}

func TestRotateCredentialsVerifyFails(t *testing.T) {
	e := newEnv(t)
	old := e.srv.ConnectorAccessKeyID
	// The new key never authenticates (as if IAM never propagated it):
	// after retrying, the rotation deletes it again and keeps the old key.
	e.srv.RejectNewKeys(true)
	_, err := (&RotateCredentials{}).Execute(testCtx(t), e.conn)
	wantErr(t, err, app.EUNAVAILABLE, "created new key", "did not authenticate as "+e.srv.ConnectorUserARN,
		"the current key "+old+" is kept", "InvalidClientTokenId", "was deleted again, so nothing changed")
	if keys := e.keys(t, awstest.ConnectorUser); len(keys) != 1 || keys[old] != "Active" {
		t.Errorf("keys = %v", keys)
	}
	if got := e.conn.creds.current().AccessKeyID; got != old {
		t.Errorf("connection switched to %s", got)
	}
	if _, err := e.conn.Test(testCtx(t)); err != nil {
		t.Errorf("connection after failed rotation: %v", err)
	}
}

func TestRotateCredentialsRefusesRoot(t *testing.T) {
	e := newEnv(t)
	root := mustJSON(t, Credentials{AccessKeyID: e.srv.RootAccessKeyID, SecretAccessKey: e.srv.RootSecretAccessKey})
	c, err := testDriver.Connect(testCtx(t), e.srv.ConfigJSON(), []byte(root))
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&RotateCredentials{}).Plan(testCtx(t), c)
	wantErr(t, err, app.ECONFLICT, "root user", "create an IAM user for Nexplane")
}
