package aws

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestFindings(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ago := func(days int) string { return now.AddDate(0, 0, -days).Format(time.RFC3339) }
	key := func(id int64, status, created string, lastUsed any) app.Asset {
		b, _ := json.Marshal(map[string]any{"user_name": "alice", "status": status, "created": created, "last_used": lastUsed, "last_used_service": "s3"})
		return app.Asset{ID: id, Kind: KindAccessKey, ExternalID: "AKIAKEY000000000000" + string(rune('0'+id)), Attributes: b}
	}
	user := func(id int64, attached []string, inlineAdmin bool) app.Asset {
		b, _ := json.Marshal(map[string]any{"user_name": "alice", "attached_policies": attached, "inline_policies": []string{"god"}, "inline_admin": inlineAdmin})
		return app.Asset{ID: id, Kind: KindUser, ExternalID: "arn:aws:iam::123456789012:user/alice", Attributes: b}
	}
	type want struct {
		rule     string
		severity app.Severity
		remedy   string
		params   string
		msg      string
	}
	keyParams := func(id int64) string {
		return `{"access_key_id":"AKIAKEY000000000000` + string(rune('0'+id)) + `","user_name":"alice"}`
	}
	cases := []struct {
		name   string
		config string
		asset  app.Asset
		want   []want
	}{
		{"fresh used key", `{"region":"us-east-1"}`, key(1, "Active", ago(10), ago(1)), nil},
		{"old key", `{"region":"us-east-1"}`, key(2, "Active", ago(91), ago(1)),
			[]want{{RuleKeyTooOld, app.SeverityMedium, "aws.iam.access_key.rotate", keyParams(2), "is 91 days old; the rotation policy is 90 days"}}},
		{"custom rotation", `{"region":"us-east-1","rotation_days":30}`, key(3, "Active", ago(31), ago(1)),
			[]want{{RuleKeyTooOld, app.SeverityMedium, "aws.iam.access_key.rotate", keyParams(3), "policy is 30 days"}}},
		{"unused", `{"region":"us-east-1","rotation_days":365}`, key(4, "Active", ago(200), ago(100)),
			[]want{{RuleKeyUnused, app.SeverityMedium, "aws.iam.access_key.deactivate", keyParams(4), "last used 100 days ago"}}},
		{"never used, old", `{"region":"us-east-1","rotation_days":365}`, key(5, "Active", ago(95), nil),
			[]want{{RuleKeyUnused, app.SeverityMedium, "aws.iam.access_key.deactivate", keyParams(5), "never been used in the 95 days"}}},
		{"never used, new", `{"region":"us-east-1"}`, key(6, "Active", ago(5), nil), nil},
		{"old and unused", `{"region":"us-east-1"}`, key(7, "Active", ago(400), nil), []want{
			{RuleKeyTooOld, app.SeverityMedium, "aws.iam.access_key.rotate", keyParams(7), "400 days old"},
			{RuleKeyUnused, app.SeverityMedium, "aws.iam.access_key.deactivate", keyParams(7), "never been used"}}},
		{"inactive", `{"region":"us-east-1"}`, key(8, "Inactive", ago(400), nil),
			[]want{{RuleKeyInactive, app.SeverityLow, "aws.iam.access_key.delete", keyParams(8), "is inactive but not deleted"}}},
		{"bad config falls back to defaults", `{"nope":1}`, key(9, "Active", ago(91), ago(1)),
			[]want{{RuleKeyTooOld, app.SeverityMedium, "aws.iam.access_key.rotate", keyParams(9), "policy is 90 days"}}},
		{"plain user", `{"region":"us-east-1"}`, user(10, []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, false), nil},
		{"customer policy named like admin", `{"region":"us-east-1"}`, user(11, []string{"arn:aws:iam::123456789012:policy/AdministratorAccess"}, false), nil},
		{"admin attached", `{"region":"us-east-1"}`, user(12, []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AdministratorAccess"}, false),
			[]want{{RuleUserOverPrivileg, app.SeverityHigh, "aws.iam.user_policy.detach",
				`{"policy_arn":"arn:aws:iam::aws:policy/AdministratorAccess","user_name":"alice"}`, "attached arn:aws:iam::aws:policy/AdministratorAccess"}}},
		{"iam full access in gov", `{"region":"us-east-1"}`, user(13, []string{"arn:aws-us-gov:iam::aws:policy/IAMFullAccess"}, false),
			[]want{{RuleUserOverPrivileg, app.SeverityHigh, "aws.iam.user_policy.detach",
				`{"policy_arn":"arn:aws-us-gov:iam::aws:policy/IAMFullAccess","user_name":"alice"}`, "IAMFullAccess"}}},
		{"inline admin", `{"region":"us-east-1"}`, user(14, nil, true),
			[]want{{RuleUserOverPrivileg, app.SeverityHigh, "", "", "an inline policy (of god) allows every action on every resource"}}},
	}
	for _, c := range cases {
		got := Driver{}.Findings(json.RawMessage(c.config), []app.Asset{c.asset}, now)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d findings %+v, want %d", c.name, len(got), got, len(c.want))
			continue
		}
		for i, w := range c.want {
			g := got[i]
			if g.AssetID != c.asset.ID || g.Rule != w.rule || g.Severity != w.severity || g.RemedyType != w.remedy ||
				string(g.RemedyParams) != w.params || !strings.Contains(g.Message, w.msg) {
				t.Errorf("%s: finding %d = %+v (params %s)\nwant %+v", c.name, i, g, g.RemedyParams, w)
			}
		}
	}
	// Gone assets are not judged.
	gone := key(1, "Inactive", ago(400), nil)
	gone.GoneAt = now
	if got := (Driver{}).Findings(nil, []app.Asset{gone}, now); len(got) != 0 {
		t.Errorf("gone asset: %+v", got)
	}
}

func TestRevokeOperation(t *testing.T) {
	t.Parallel()
	reg := app.NewRegistry()
	Register(reg)
	k := &app.Asset{Kind: KindAccessKey, ExternalID: "AKIAIOSFODNN7EXAMPLE", Attributes: json.RawMessage(`{"user_name":"alice","status":"Active"}`)}
	typ, params, ok := Driver{}.RevokeOperation(k)
	if !ok || typ != "aws.iam.access_key.deactivate" || string(params) != `{"access_key_id":"AKIAIOSFODNN7EXAMPLE","user_name":"alice"}` {
		t.Errorf("revoke = %s %s %v", typ, params, ok)
	}
	if _, err := reg.DecodeOperation(Type, typ, params); err != nil {
		t.Errorf("revoke params do not decode: %v", err)
	}
	for _, a := range []*app.Asset{nil, {Kind: KindUser, ExternalID: "arn:aws:iam::123456789012:user/alice", Attributes: json.RawMessage(`{"user_name":"alice"}`)},
		{Kind: KindAccessKey, ExternalID: "AKIAIOSFODNN7EXAMPLE", Attributes: json.RawMessage(`{}`)}} {
		if _, _, ok := (Driver{}).RevokeOperation(a); ok {
			t.Errorf("revocable: %+v", a)
		}
	}
}
