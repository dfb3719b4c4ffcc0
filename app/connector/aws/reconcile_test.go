package aws

import (
	"testing"

	"github.com/nexplane/nexplane/app"
)

// observe asks an operation whether its effect is on IAM.
func (e *env) observe(t *testing.T, typ, params string) app.Reconciliation {
	t.Helper()
	r, err := e.Op(t, typ, params).(app.Observer).Observe(testCtx(t), e.conn)
	if err != nil {
		t.Fatalf("observe %s %s: %v", typ, params, err)
	}
	return r
}

// TestObserve: each operation sees its effect absent before it runs and
// present after, as resume needs after a crash between IAM's write and
// the recording of the result; one that made a secret nobody saw cannot
// tell.
func TestObserve(t *testing.T) {
	e := newEnv(t)
	e.srv.CreateUser(t, "gina")
	e.srv.CreateGroup(t, "ops")
	policy := e.srv.CreatePolicy(t, "gina-read", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}]}`)
	user := `{"user_name":"gina"}`
	if r := e.observe(t, "aws.iam.access_key.create", user); r.Outcome != app.OutcomeNotApplied {
		t.Errorf("create on a user without keys: %+v, want not applied", r)
	}
	e.Exec(t, "aws.iam.access_key.create", user)
	if r := e.observe(t, "aws.iam.access_key.create", user); r.Outcome != app.OutcomeUnknown || r.Reason == "" {
		t.Errorf("create on a user with a key: %+v, want unknown with a reason", r)
	}
	var id string
	for k := range e.keys(t, "gina") {
		id = k
	}
	key := mustJSON(t, map[string]string{"user_name": "gina", "access_key_id": id})
	if r := e.observe(t, "aws.iam.access_key.rotate", key); r.Outcome != app.OutcomeNotApplied {
		t.Errorf("rotate of the only active key: %+v, want not applied", r)
	}
	steps := []struct{ typ, params string }{
		{"aws.iam.access_key.deactivate", key},
		{"aws.iam.access_key.activate", key},
		{"aws.iam.user_policy.attach", mustJSON(t, map[string]string{"user_name": "gina", "policy_arn": policy})},
		{"aws.iam.user_policy.detach", mustJSON(t, map[string]string{"user_name": "gina", "policy_arn": policy})},
		{"aws.iam.user.add_to_group", `{"user_name":"gina","group_name":"ops"}`},
		{"aws.iam.user.remove_from_group", `{"user_name":"gina","group_name":"ops"}`},
		{"aws.iam.access_key.delete", key},
	}
	for _, s := range steps {
		if r := e.observe(t, s.typ, s.params); r.Outcome != app.OutcomeNotApplied {
			t.Errorf("%s before: %+v, want not applied", s.typ, r)
		}
		e.Exec(t, s.typ, s.params)
		if r := e.observe(t, s.typ, s.params); r.Outcome != app.OutcomeApplied || r.Reason == "" {
			t.Errorf("%s after: %+v, want applied with a reason", s.typ, r)
		}
	}
	// What a first run refuses stays for the run to refuse.
	if r := e.observe(t, "aws.iam.user.add_to_group", `{"user_name":"gina","group_name":"nope"}`); r.Outcome != app.OutcomeNotApplied {
		t.Errorf("missing group: %+v, want not applied", r)
	}
}
