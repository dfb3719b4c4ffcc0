package ldap

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func userAsset(id int64, attrs map[string]any) app.Asset {
	base := map[string]any{"uid": "alice", "cn": "Alice Doe", "mail": "alice@example.org", "locked": false,
		"locked_since": nil, "password_changed": nil, "groups": []string{}}
	for k, v := range attrs {
		base[k] = v
	}
	b, _ := json.Marshal(base)
	return app.Asset{ID: id, Kind: KindUser, ExternalID: "uid=" + base["uid"].(string) + ",ou=people,dc=example,dc=org",
		Name: base["uid"].(string), Attributes: b}
}

func TestFindings(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)
	ago := func(days int) string { return now.Add(-time.Duration(days) * 24 * time.Hour).Format(time.RFC3339) }
	cfg := func(m map[string]any) json.RawMessage { b, _ := json.Marshal(m); return b }
	type want struct {
		rule     string
		severity app.Severity
		remedy   string
		params   string
		msg      string
	}
	tooOld := func(uid string) want {
		return want{RulePasswordTooOld, app.SeverityMedium, "ldap.user.reset_password", `{"uid":"` + uid + `"}`,
			"last changed on"}
	}
	tests := []struct {
		name   string
		config json.RawMessage
		asset  app.Asset
		want   []want
	}{
		{"fresh password", nil, userAsset(1, map[string]any{"password_changed": ago(10)}), nil},
		{"exactly at the limit", nil, userAsset(1, map[string]any{"password_changed": ago(90)}), nil},
		{"just over the limit", nil, userAsset(1, map[string]any{"password_changed": now.Add(-90*24*time.Hour - time.Second).Format(time.RFC3339)}),
			[]want{tooOld("alice")}},
		{"old password", nil, userAsset(7, map[string]any{"password_changed": ago(400)}),
			[]want{{RulePasswordTooOld, app.SeverityMedium, "ldap.user.reset_password", `{"uid":"alice"}`, "400 days ago; the policy is at most 90 days"}}},
		{"unknown change time is not judged", nil, userAsset(1, nil), nil},
		{"unparseable change time is not judged", nil, userAsset(1, map[string]any{"password_changed": "yesterday"}), nil},
		{"per-connector max age", cfg(map[string]any{"password_max_age_days": 30}), userAsset(1, map[string]any{"password_changed": ago(31)}),
			[]want{{RulePasswordTooOld, app.SeverityMedium, "ldap.user.reset_password", `{"uid":"alice"}`, "the policy is at most 30 days"}}},
		{"out-of-range max age falls back to 90", cfg(map[string]any{"password_max_age_days": 0}), userAsset(1, map[string]any{"password_changed": ago(31)}), nil},
		{"locked, in admins", nil, userAsset(2, map[string]any{"locked": true, "locked_since": PermanentLock, "groups": []string{"admins", "devs"}}),
			[]want{{RuleLockedButPrivileged, app.SeverityHigh, "ldap.group.remove_member", `{"group":"admins","uid":"alice"}`,
				"uid=alice is locked (pwdAccountLockedTime 000001010000Z) but still a member of the privileged group admins"}}},
		{"locked, not privileged", nil, userAsset(2, map[string]any{"locked": true, "groups": []string{"devs"}}), nil},
		{"active admin", nil, userAsset(2, map[string]any{"groups": []string{"admins"}}), nil},
		{"privileged groups from config, case-insensitive, first one remedied",
			cfg(map[string]any{"privileged_groups": []string{"Ops", "root", "admins"}}),
			userAsset(3, map[string]any{"locked": true, "groups": []string{"admins", "devs", "ops", "root"}}),
			[]want{{RuleLockedButPrivileged, app.SeverityHigh, "ldap.group.remove_member", `{"group":"admins","uid":"alice"}`,
				"privileged groups admins, ops, root"}}},
		{"empty privileged list", cfg(map[string]any{"privileged_groups": []string{}}),
			userAsset(3, map[string]any{"locked": true, "groups": []string{"admins"}}), nil},
		{"both rules", nil, userAsset(4, map[string]any{"uid": "bob", "locked": true, "groups": []string{"admins"}, "password_changed": ago(100)}),
			[]want{tooOld("bob"), {RuleLockedButPrivileged, app.SeverityHigh, "ldap.group.remove_member", `{"group":"admins","uid":"bob"}`, "uid=bob is locked"}}},
		{"uid unusable in an operation: finding without remedy", nil,
			userAsset(5, map[string]any{"uid": "Weird,Name", "password_changed": ago(100)}),
			[]want{{RulePasswordTooOld, app.SeverityMedium, "", "", "uid=Weird,Name"}}},
		{"groups are not judged", nil, app.Asset{ID: 6, Kind: KindGroup, Name: "admins",
			Attributes: json.RawMessage(`{"cn":"admins","members":[],"locked":true,"password_changed":"2000-01-01T00:00:00Z"}`)}, nil},
		{"malformed attributes are skipped", nil, app.Asset{ID: 6, Kind: KindUser, Attributes: json.RawMessage(`[`)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Driver{}.Findings(tt.config, []app.Asset{tt.asset}, now)
			if len(got) != len(tt.want) {
				t.Fatalf("findings = %+v, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				f := got[i]
				if f.AssetID != tt.asset.ID || f.Rule != w.rule || f.Severity != w.severity || f.RemedyType != w.remedy ||
					string(f.RemedyParams) != w.params || !strings.Contains(f.Message, w.msg) {
					t.Errorf("finding %d = %+v (params %s)\nwant %+v", i, f, f.RemedyParams, w)
				}
			}
		})
	}

	// Pure and ordered: the same input gives the same output.
	var all []app.Asset
	for _, tt := range tests {
		all = append(all, tt.asset)
	}
	a, b := Driver{}.Findings(nil, all, now), Driver{}.Findings(nil, all, now)
	if !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Errorf("not deterministic: %v vs %v", a, b)
	}
}

func TestRevokeOperation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		asset  *app.Asset
		typ    string
		params string
		ok     bool
	}{
		{"user", ptr(userAsset(1, map[string]any{"uid": "bob"})), "ldap.user.disable", `{"uid":"bob"}`, true},
		{"locked user still revocable (idempotent)", ptr(userAsset(1, map[string]any{"locked": true})), "ldap.user.disable", `{"uid":"alice"}`, true},
		{"group", &app.Asset{Kind: KindGroup, Attributes: json.RawMessage(`{"cn":"admins"}`)}, "", "", false},
		{"other kind", &app.Asset{Kind: "aws.iam.access_key", Attributes: json.RawMessage(`{"uid":"x"}`)}, "", "", false},
		{"no uid", &app.Asset{Kind: KindUser, Attributes: json.RawMessage(`{"cn":"x"}`)}, "", "", false},
		{"uid the operation refuses", ptr(userAsset(1, map[string]any{"uid": "a,b"})), "", "", false},
		{"malformed", &app.Asset{Kind: KindUser, Attributes: json.RawMessage(`nope`)}, "", "", false},
		{"nil", nil, "", "", false},
	}
	reg := app.NewRegistry()
	Register(reg)
	for _, tt := range tests {
		typ, params, ok := Driver{}.RevokeOperation(tt.asset)
		if typ != tt.typ || string(params) != tt.params || ok != tt.ok {
			t.Errorf("%s: = %q %s %v, want %q %s %v", tt.name, typ, params, ok, tt.typ, tt.params, tt.ok)
		}
		if ok {
			if _, err := reg.DecodeOperation(Type, typ, params); err != nil {
				t.Errorf("%s: the revoke operation does not decode: %v", tt.name, err)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestValidateConfigPolicy(t *testing.T) {
	t.Parallel()
	// An existing config without the new fields stays valid and gets the
	// defaults.
	out, err := Driver{}.ValidateConfig(cfgJSON(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.PasswordMaxAgeDays == nil || *cfg.PasswordMaxAgeDays != 90 || !reflect.DeepEqual(cfg.PrivilegedGroups, []string{"admins"}) ||
		cfg.SyncInterval != "15m" {
		t.Errorf("defaults: %s", out)
	}
	// The normal form is a fixed point.
	again, err := Driver{}.ValidateConfig(out)
	if err != nil || string(again) != string(out) {
		t.Errorf("re-validated: %s %v\nwant %s", again, err, out)
	}

	out, err = Driver{}.ValidateConfig(cfgJSON(t, map[string]any{"password_max_age_days": 3650,
		"privileged_groups": []string{"Domain Admins", "ops"}, "sync_interval": " 1h30m "}))
	if err != nil {
		t.Fatal(err)
	}
	cfg = Config{}
	_ = json.Unmarshal(out, &cfg)
	if *cfg.PasswordMaxAgeDays != 3650 || !reflect.DeepEqual(cfg.PrivilegedGroups, []string{"Domain Admins", "ops"}) || cfg.SyncInterval != "1h30m" {
		t.Errorf("explicit: %s", out)
	}
	// An explicit empty list means "no privileged groups" and survives.
	out, err = Driver{}.ValidateConfig(cfgJSON(t, map[string]any{"privileged_groups": []string{}}))
	if err != nil || !strings.Contains(string(out), `"privileged_groups":[]`) {
		t.Errorf("empty list: %s %v", out, err)
	}
	if again, err := (Driver{}).ValidateConfig(out); err != nil || !strings.Contains(string(again), `"privileged_groups":[]`) {
		t.Errorf("empty list re-validated: %s %v", again, err)
	}

	for _, tt := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"password_max_age_days": 0}, "password_max_age_days must be between 1 and 3650, not 0"},
		{map[string]any{"password_max_age_days": 3651}, "password_max_age_days must be between 1 and 3650"},
		{map[string]any{"password_max_age_days": "90"}, `field "password_max_age_days" has the wrong type`},
		{map[string]any{"password_max_age_days": 1.5}, `field "password_max_age_days" has the wrong type`},
		{map[string]any{"privileged_groups": "admins"}, `field "privileged_groups" has the wrong type`},
		{map[string]any{"privileged_groups": []string{"admins", "a)(cn=*"}}, `privileged_groups: group "a)(cn=*" is not allowed`},
		{map[string]any{"privileged_groups": []string{""}}, "privileged_groups: group is required"},
		{map[string]any{"privileged_groups": []string{"admins", "ADMINS"}}, `privileged_groups: "ADMINS" is listed twice`},
		{map[string]any{"sync_interval": "often"}, `sync_interval "often" is not a duration`},
		{map[string]any{"sync_interval": "30s"}, "sync_interval must be between 1m and 168h, not 30s"},
		{map[string]any{"sync_interval": "-5m"}, "sync_interval must be between 1m and 168h"},
		{map[string]any{"sync_interval": "169h"}, "sync_interval must be between 1m and 168h, not 169h"},
	} {
		_, err := Driver{}.ValidateConfig(cfgJSON(t, tt.cfg))
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), tt.want) {
			t.Errorf("%v: err = %v, want invalid containing %q", tt.cfg, err, tt.want)
		}
	}
}
