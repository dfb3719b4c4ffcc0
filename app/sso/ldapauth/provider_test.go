package ldapauth

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// The stored config is the normal form without any password, and the
// provider signs in with the bind password from the (opened) secrets only.
func TestProviderConfigAndSecrets(t *testing.T) {
	t.Parallel()
	srv := ldaptest.Start(t)
	base := map[string]any{"url": srv.URL, "start_tls": true, "ca_pem": string(srv.CAPEM), "bind_dn": srv.BindDN,
		"base_dn": srv.UserBase, "user_filter": "(uid=%s)",
		"group_base_dn": srv.GroupBase, "group_filter": "(&(objectClass=groupOfNames)(member=%s))"}
	raw, _ := json.Marshal(base)
	norm, err := Provider{}.ValidateConfig(raw)
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	var got Config
	if err := json.Unmarshal(norm, &got); err != nil || got.SubjectAttr != DefaultSubjectAttr || got.NameAttr != DefaultNameAttr {
		t.Fatalf("normal form %s (%v): defaults not filled in", norm, err)
	}
	if strings.Contains(string(norm), placeholderPassword) || strings.Contains(string(norm), "password") {
		t.Fatalf("the stored config carries a password: %s", norm)
	}

	for name, c := range map[string]map[string]any{
		"password in config": {"bind_password": srv.BindPassword},
		"clear text remote":  {"url": "ldap://ldap.example.org", "start_tls": false},
		"bad filter":         {"user_filter": "uid=%s"},
	} {
		bad := map[string]any{}
		for k, v := range base {
			bad[k] = v
		}
		for k, v := range c {
			bad[k] = v
		}
		raw, _ := json.Marshal(bad)
		if _, err := (Provider{}).ValidateConfig(raw); app.ErrCode(err) != app.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}

	run := app.ProviderRun{ID: 1, Config: norm}
	secrets, _ := json.Marshal(Secrets{BindPassword: srv.BindPassword})
	run.Secrets = secrets
	id, err := Provider{}.Authenticate(testCtx(t), run, "alice", srv.UserPasswords["alice"])
	if err != nil || id.Email != "alice@example.org" {
		t.Fatalf("authenticate with the sealed bind password: %+v, %v", id, err)
	}
	run.Secrets = nil
	if _, err := (Provider{}).Authenticate(testCtx(t), run, "alice", srv.UserPasswords["alice"]); app.ErrCode(err) != app.EINVALID {
		t.Fatalf("without the bind password: %v, want EINVALID", err)
	}
}
