package aws

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/aws/awstest"
	"github.com/nexplane/nexplane/app/optest"
)

// testDriver retries fast so throttling tests take milliseconds.
var testDriver = Driver{maxBackoff: 5 * time.Millisecond, verifyInterval: 20 * time.Millisecond, verifyTimeout: 300 * time.Millisecond}

// env is one emulator plus a connector session to it.
type env struct {
	srv  *awstest.Server
	conn *conn
	reg  *app.Registry
	optest.Runner
}

func newEnv(t *testing.T) *env {
	t.Helper()
	// Not parallel: kumo's IAM store is process-wide (see awstest).
	srv := awstest.Start(t)
	ac, err := testDriver.Connect(testCtx(t), srv.ConfigJSON(), srv.CredentialsJSON())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = ac.Close() })
	reg := app.NewRegistry()
	Register(reg)
	return &env{srv: srv, conn: ac.(*conn), reg: reg,
		Runner: optest.Runner{Reg: reg, ConnType: Type, Conn: ac, Timeout: 60 * time.Second}}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// keys reads a user's keys from IAM as root: id -> status.
func (e *env) keys(t *testing.T, user string) map[string]string {
	t.Helper()
	out, err := e.srv.Admin().ListAccessKeys(testCtx(t), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("list keys of %s: %v", user, err)
	}
	m := map[string]string{}
	for _, k := range out.AccessKeyMetadata {
		m[aws.ToString(k.AccessKeyId)] = string(k.Status)
	}
	return m
}

func (e *env) attached(t *testing.T, user string) []string {
	t.Helper()
	out, err := e.srv.Admin().ListAttachedUserPolicies(testCtx(t), &iam.ListAttachedUserPoliciesInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("list policies of %s: %v", user, err)
	}
	var arns []string
	for _, p := range out.AttachedPolicies {
		arns = append(arns, aws.ToString(p.PolicyArn))
	}
	return arns
}

func (e *env) groupsOf(t *testing.T, user string) []string {
	t.Helper()
	out, err := e.srv.Admin().ListGroupsForUser(testCtx(t), &iam.ListGroupsForUserInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("list groups of %s: %v", user, err)
	}
	var names []string
	for _, g := range out.Groups {
		names = append(names, aws.ToString(g.GroupName))
	}
	return names
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

// wantErr checks an error's code and that its safe message has parts.
func wantErr(t *testing.T, err error, code app.ErrorCode, parts ...string) {
	t.Helper()
	if app.ErrCode(err) != code {
		t.Errorf("err = %v (code %s), want code %s", err, app.ErrCode(err), code)
	}
	wantContains(t, "error message", app.ErrMessage(err), parts...)
}

// noSecret fails if secret appears in a result's non-secret parts or an error.
func noSecret(t *testing.T, secret string, res *app.OpResult, errs ...error) {
	t.Helper()
	if secret == "" {
		t.Fatal("noSecret: empty secret")
	}
	if res != nil {
		b, _ := json.Marshal(res.Details)
		if strings.Contains(res.Summary, secret) || strings.Contains(string(b), secret) {
			t.Errorf("secret leaked into summary/details: %q %s", res.Summary, b)
		}
	}
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("secret leaked into error %v", err)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var _ = types.StatusTypeActive
