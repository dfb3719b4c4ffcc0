package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/nexplane/nexplane/app/connector/aws/awstest"
)

// awsEnv is changeEnv whose connector is an AWS account in the emulator.
// The emulator (kumo) lacks several IAM actions; awstest puts a small
// handler in front of it that serves them (UpdateAccessKey,
// GetAccessKeyLastUsed, policy and group listings…) and passes everything
// else through — see awstest/shim.go for exactly which.
type awsEnv struct {
	*changeEnv
	aws *awstest.Server
}

func newAWSEnv(t testing.TB) *awsEnv {
	t.Helper()
	return newAWSEnvOn(t, "")
}

// newAWSEnvOn is newAWSEnv on the store driver given (testkit.Options.Driver).
func newAWSEnvOn(t testing.TB, driver string) *awsEnv {
	t.Helper()
	e := newChangeEnvWith(t, 0, driver)
	srv := awstest.Start(t)
	st, body := e.do("POST", "/api/v1/connectors", e.tokens["admin"], map[string]any{
		"name": "prod-account", "type": "aws", "config": jsonRaw(srv.ConfigJSON()), "credentials": jsonRaw(srv.CredentialsJSON())})
	if st != http.StatusCreated {
		t.Fatalf("aws connector: %d %v", st, body)
	}
	e.connID = int64(body["id"].(float64))
	return &awsEnv{changeEnv: e, aws: srv}
}

func (e *awsEnv) keys(user string) map[string]string {
	e.t.Helper()
	out, err := e.aws.Admin().ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: awssdk.String(user)})
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]string{}
	for _, k := range out.AccessKeyMetadata {
		m[awssdk.ToString(k.AccessKeyId)] = string(k.Status)
	}
	return m
}

func (e *awsEnv) attached(user string) []string {
	e.t.Helper()
	out, err := e.aws.Admin().ListAttachedUserPolicies(context.Background(), &iam.ListAttachedUserPoliciesInput{UserName: awssdk.String(user)})
	if err != nil {
		e.t.Fatal(err)
	}
	var arns []string
	for _, p := range out.AttachedPolicies {
		arns = append(arns, awssdk.ToString(p.PolicyArn))
	}
	return arns
}

func (e *awsEnv) groups(user string) []string {
	e.t.Helper()
	out, err := e.aws.Admin().ListGroupsForUser(context.Background(), &iam.ListGroupsForUserInput{UserName: awssdk.String(user)})
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, g := range out.Groups {
		names = append(names, awssdk.ToString(g.GroupName))
	}
	return names
}

func (e *awsEnv) mustRun(ops ...map[string]any) (int64, map[string]any) {
	e.t.Helper()
	id, body := e.run(ops...)
	if body["status"] != "succeeded" {
		e.t.Fatalf("change %d: %v", id, body)
	}
	return id, body
}

// TestEveryAWSOperationThroughTheAPI takes each AWS operation through the
// review path and reads IAM afterwards.
func TestEveryAWSOperationThroughTheAPI(t *testing.T) {
	e := newAWSEnv(t)
	e.aws.CreateUser(t, "deploy")
	oldKey, _ := e.aws.CreateAccessKey(t, "deploy")
	e.aws.CreateGroup(t, "developers")
	var secrets []string

	// create: the new secret is shown once to the requester.
	id, body := e.mustRun(op("aws.iam.access_key.create", map[string]any{"user_name": "deploy"}))
	var created struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	if err := json.Unmarshal([]byte(e.reveal("op", id, body)), &created); err != nil || created.SecretAccessKey == "" {
		t.Fatalf("revealed key: %v %+v", err, created)
	}
	secrets = append(secrets, created.SecretAccessKey)
	if e.keys("deploy")[created.AccessKeyID] != "Active" {
		t.Fatalf("created key not in IAM: %v", e.keys("deploy"))
	}

	// A user with two keys (AWS's limit) cannot get a third or a rotation.
	for _, o := range []map[string]any{
		op("aws.iam.access_key.create", map[string]any{"user_name": "deploy"}),
		op("aws.iam.access_key.rotate", map[string]any{"user_name": "deploy", "access_key_id": oldKey}),
	} {
		cid := e.create("op", o)
		if st, resp := e.action("op", cid, "submit", nil); st != http.StatusBadRequest || !strings.Contains(strings.ToLower(errMessage(resp)), "2") {
			t.Errorf("%v on a user with 2 keys: %d %v", o["type"], st, resp)
		}
	}
	if n := len(e.keys("deploy")); n != 2 {
		t.Errorf("refused operations left %d keys", n)
	}

	e.mustRun(op("aws.iam.access_key.deactivate", map[string]any{"user_name": "deploy", "access_key_id": created.AccessKeyID}))
	if s := e.keys("deploy")[created.AccessKeyID]; s != "Inactive" {
		t.Errorf("after deactivate: %s", s)
	}
	e.mustRun(op("aws.iam.access_key.activate", map[string]any{"user_name": "deploy", "access_key_id": created.AccessKeyID}))
	if s := e.keys("deploy")[created.AccessKeyID]; s != "Active" {
		t.Errorf("after activate: %s", s)
	}
	e.mustRun(op("aws.iam.access_key.delete", map[string]any{"user_name": "deploy", "access_key_id": created.AccessKeyID}))
	if _, ok := e.keys("deploy")[created.AccessKeyID]; ok {
		t.Error("deleted key still in IAM")
	}

	// rotate: a new key (shown once) and the old one inactive, not deleted.
	id, body = e.mustRun(op("aws.iam.access_key.rotate", map[string]any{"user_name": "deploy", "access_key_id": oldKey}))
	var rotated struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	if err := json.Unmarshal([]byte(e.reveal("op", id, body)), &rotated); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rotated.SecretAccessKey)
	if k := e.keys("deploy"); k[oldKey] != "Inactive" || k[rotated.AccessKeyID] != "Active" {
		t.Errorf("after rotate: %v", k)
	}

	admin := "arn:aws:iam::aws:policy/AdministratorAccess"
	e.mustRun(op("aws.iam.user_policy.attach", map[string]any{"user_name": "deploy", "policy_arn": admin}))
	if !slices.Contains(e.attached("deploy"), admin) {
		t.Errorf("policy not attached: %v", e.attached("deploy"))
	}
	e.mustRun(op("aws.iam.user_policy.detach", map[string]any{"user_name": "deploy", "policy_arn": admin}))
	if slices.Contains(e.attached("deploy"), admin) {
		t.Error("policy still attached")
	}
	e.mustRun(op("aws.iam.user.add_to_group", map[string]any{"user_name": "deploy", "group_name": "developers"}))
	if !slices.Contains(e.groups("deploy"), "developers") {
		t.Errorf("not in group: %v", e.groups("deploy"))
	}
	e.mustRun(op("aws.iam.user.remove_from_group", map[string]any{"user_name": "deploy", "group_name": "developers"}))
	if slices.Contains(e.groups("deploy"), "developers") {
		t.Error("still in group")
	}

	// The connector rotates its own key: the old one is gone, the new one works.
	before := e.keys(awstest.ConnectorUser)
	e.mustRun(op("connector.rotate_credentials", map[string]any{}))
	after := e.keys(awstest.ConnectorUser)
	if _, ok := after[e.aws.ConnectorAccessKeyID]; ok || len(after) != 1 {
		t.Errorf("connector keys before %v, after %v", before, after)
	}
	st, test := e.do("POST", fmt.Sprintf("/api/v1/connectors/%d/test", e.connID), e.tokens["admin"], nil)
	if st != 200 || test["ok"] != true {
		t.Errorf("connector test after rotation: %d %v", st, test)
	}
	secrets = append(secrets, e.aws.ConnectorSecretAccessKey)
	e.assertSecretsNowhere(secrets)
}

// TestAWSInventoryFindingsDriftAndRevoke changes IAM directly in the
// emulator and checks what syncs make of it, then revokes a key.
func TestAWSInventoryFindingsDriftAndRevoke(t *testing.T) {
	e := newAWSEnv(t)
	e.aws.CreateUser(t, "ci")
	key, _ := e.aws.CreateAccessKey(t, "ci")
	if res := e.sync(); res["drift"].(float64) != 0 {
		t.Fatalf("baseline: %v", res)
	}
	keyAsset := e.assetID("aws.iam.access_key", "ci/"+key)

	// Out of band: someone grants admin directly in IAM.
	e.aws.AttachUserPolicy(t, "ci", "arn:aws:iam::aws:policy/AdministratorAccess")
	res := e.sync()
	if res["drift"].(float64) != 1 {
		t.Errorf("drift after an out-of-band attach: %v", res)
	}
	st, fs := e.do("GET", "/api/v1/findings", e.tokens["viewer"], nil)
	if st != 200 || !strings.Contains(fmt.Sprint(fs), "aws.user.over_privileged") {
		t.Errorf("over-privileged finding: %v", fs)
	}
	// Usage alone (a key's last use) is neither a change nor drift.
	e.aws.SetLastUsed(key, time.Now(), "s3")
	if res := e.sync(); res["drift"].(float64) != 0 || res["changed"].(float64) != 0 {
		t.Errorf("sync after key use: %v", res)
	}
	// Old keys: move the clock past the rotation policy.
	e.clock.Advance(120 * 24 * time.Hour)
	e.sync()
	_, asset := e.do("GET", fmt.Sprintf("/api/v1/assets/%d", keyAsset), e.tokens["viewer"], nil)
	if !strings.Contains(fmt.Sprint(asset["findings"]), "aws.access_key.too_old") || asset["revocable"] != true {
		t.Errorf("key asset: %v", asset)
	}

	// Revoke now, as an admin: from the click to the key inactive in IAM.
	start := time.Now()
	st, body := e.do("POST", fmt.Sprintf("/api/v1/assets/%d/revoke", keyAsset), e.tokens["admin"], map[string]string{"reason": "key leaked in a public repo"})
	if st != http.StatusCreated {
		t.Fatalf("revoke: %d %v", st, body)
	}
	for e.keys("ci")[key] != "Inactive" {
		if time.Since(start) > 10*time.Second {
			t.Fatal("key not inactive 10 s after revoke now")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("revoke now: key inactive in IAM %v after the request", time.Since(start))
	done := e.waitDone(int64(body["id"].(float64)))
	if done["status"] != "succeeded" || done["emergency"] == nil {
		t.Errorf("revoke change: %v", done)
	}
	// The revoke went through Nexplane: the next sync sees no drift.
	if res := e.sync(); res["drift"].(float64) != 0 {
		t.Errorf("sync after revoke now: %v", res)
	}
}

// TestAWSConnectorErrors: wrong credentials and unreachable endpoints give
// clear reasons without echoing secrets.
func TestAWSConnectorErrors(t *testing.T) {
	e := newAWSEnv(t)
	path := fmt.Sprintf("/api/v1/connectors/%d", e.connID)
	if st, body := e.do("PATCH", path, e.tokens["admin"], map[string]any{"credentials": map[string]string{
		"access_key_id": e.aws.ConnectorAccessKeyID, "secret_access_key": "wrongSecret0000000000000000000000000000000"}}); st != 200 {
		t.Fatalf("set wrong secret: %d %v", st, body)
	}
	st, test := e.do("POST", path+"/test", e.tokens["admin"], nil)
	if st != 200 || test["ok"] != false || strings.Contains(fmt.Sprint(test), "wrongSecret") {
		t.Errorf("wrong secret: %d %v", st, test)
	}
	var cfg map[string]any
	_ = json.Unmarshal(e.aws.ConfigJSON(), &cfg)
	cfg["endpoint_url"] = "http://127.0.0.1:1"
	st, body := e.do("POST", "/api/v1/connectors", e.tokens["admin"], map[string]any{"name": "nowhere", "type": "aws", "config": cfg,
		"credentials": jsonRaw(e.aws.CredentialsJSON())})
	if st != 201 {
		t.Fatalf("create: %d %v", st, body)
	}
	st, test = e.do("POST", fmt.Sprintf("/api/v1/connectors/%v/test", body["id"]), e.tokens["admin"], nil)
	if st != 200 || test["ok"] != false || !strings.Contains(fmt.Sprint(test["message"]), "reach") {
		t.Errorf("unreachable: %d %v", st, test)
	}
}
