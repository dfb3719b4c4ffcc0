package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestConnectorAPI(t *testing.T) {
	e := newChangeEnv(t)
	path := fmt.Sprintf("/api/v1/connectors/%d", e.connID)
	for _, who := range []string{"op", "appr", "viewer"} {
		if st, _ := e.do("GET", "/api/v1/connectors", e.tokens[who], nil); st != http.StatusForbidden {
			t.Errorf("list connectors as %s: %d, want 403", who, st)
		}
	}
	st, body := e.do("GET", path, e.tokens["admin"], nil)
	if st != 200 || body["credentials_set"] != true || body["credentials"] != nil {
		t.Errorf("get connector: %d %v", st, body)
	}
	cases := []struct {
		name string
		body map[string]any
		want int
		msg  string
	}{
		{"duplicate name", map[string]any{"name": "corp-directory", "type": "ldap", "config": jsonRaw(e.dir.ConfigJSON())}, 409, "already exists"},
		{"unknown type", map[string]any{"name": "x", "type": "ftp", "config": map[string]any{}}, 400, "unknown connector type"},
		{"bad url", map[string]any{"name": "x", "type": "ldap", "config": map[string]any{"url": "http://x", "bind_dn": "cn=a,dc=x", "base_dn": "dc=x", "user_base": "ou=p,dc=x", "group_base": "ou=g,dc=x"}}, 400, "url"},
		{"bad approvals", map[string]any{"name": "x", "type": "ldap", "config": jsonRaw(e.dir.ConfigJSON()), "approval_policy": map[string]any{"required_approvals": 0}}, 400, "required_approvals"},
		{"bad credentials shape", map[string]any{"name": "x", "type": "ldap", "config": jsonRaw(e.dir.ConfigJSON()), "credentials": map[string]any{"password": "hunter2-hunter2"}}, 400, ""},
	}
	for _, c := range cases {
		before := e.counts()
		st, body := e.do("POST", "/api/v1/connectors", e.tokens["admin"], c.body)
		if st != c.want || !strings.Contains(errMessage(body), c.msg) {
			t.Errorf("%s: %d %v, want %d %q", c.name, st, body, c.want, c.msg)
		}
		if strings.Contains(fmt.Sprint(body), "hunter2") {
			t.Errorf("%s: error echoes the credential", c.name)
		}
		if after := e.counts(); after != before {
			t.Errorf("%s: state changed", c.name)
		}
	}

	// A wrong bind password and an unreachable server give clear reasons.
	st, _ = e.do("PATCH", path, e.tokens["admin"], map[string]any{"credentials": map[string]any{"bind_password": "wrong-password-123"}})
	if st != 200 {
		t.Fatalf("update credentials: %d", st)
	}
	st, test := e.do("POST", path+"/test", e.tokens["admin"], nil)
	if st != 200 || test["ok"] != false || !strings.Contains(test["message"].(string), "invalid credentials") || strings.Contains(test["message"].(string), "wrong-password-123") {
		t.Errorf("test with a wrong password: %d %v", st, test)
	}
	st, created := e.do("POST", "/api/v1/connectors", e.tokens["admin"], map[string]any{"name": "nowhere", "type": "ldap",
		"config": map[string]any{"url": "ldap://127.0.0.1:1", "bind_dn": e.dir.BindDN, "base_dn": e.dir.BaseDN, "user_base": e.dir.UserBase, "group_base": e.dir.GroupBase, "insecure_no_tls": true}})
	if st != 201 {
		t.Fatalf("create unreachable connector: %d %v", st, created)
	}
	nowhere := int64(created["id"].(float64))
	st, test = e.do("POST", fmt.Sprintf("/api/v1/connectors/%d/test", nowhere), e.tokens["admin"], nil)
	if st != 200 || test["ok"] != false || !strings.Contains(test["message"].(string), "no credentials set") {
		t.Errorf("test without credentials: %d %v", st, test)
	}
	e.do("PATCH", fmt.Sprintf("/api/v1/connectors/%d", nowhere), e.tokens["admin"], map[string]any{"credentials": jsonRaw(e.dir.CredentialsJSON())})
	st, test = e.do("POST", fmt.Sprintf("/api/v1/connectors/%d/test", nowhere), e.tokens["admin"], nil)
	if st != 200 || test["ok"] != false || !strings.Contains(test["message"].(string), "cannot reach") {
		t.Errorf("test unreachable: %d %v", st, test)
	}
	// In use: cannot delete; unused: can.
	e.create("op", op("ldap.user.disable", map[string]any{"uid": "bob"}))
	if st, body := e.do("DELETE", path, e.tokens["admin"], nil); st != http.StatusConflict {
		t.Errorf("delete in-use connector: %d %v", st, body)
	}
	if st, _ := e.do("DELETE", fmt.Sprintf("/api/v1/connectors/%d", nowhere), e.tokens["admin"], nil); st != http.StatusNoContent {
		t.Errorf("delete unused connector: %d", st)
	}
}
