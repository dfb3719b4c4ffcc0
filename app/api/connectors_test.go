package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/aws"
	"github.com/nexplane/nexplane/app/connector/hosts"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// newConnectorEnv serves the API with every connector type registered and
// a real vault; no target is ever reached.
func newConnectorEnv(t *testing.T) (*testEnv, string) {
	t.Helper()
	e := newTestEnvWith(t, testkit.Options{Drivers: func(reg *app.Registry, db *store.DB, clock *testkit.Clock) {
		ldap.Register(reg)
		aws.Register(reg)
		hosts.Register(reg, hosts.NewDriver(nil, db, clock.Now))
	}}, nil)
	e.mkUser("admin@example.com", app.RoleAdmin)
	return e, e.login("admin@example.com")
}

// ldapConfig is a valid LDAP config with changes; a nil value removes a key.
func ldapConfig(changes map[string]any) map[string]any {
	cfg := map[string]any{"url": "ldap://127.0.0.1:1", "bind_dn": "cn=nexplane,ou=services,dc=example,dc=org",
		"base_dn": "dc=example,dc=org", "user_base": "ou=people,dc=example,dc=org", "group_base": "ou=groups,dc=example,dc=org",
		"insecure_no_tls": true}
	for k, v := range changes {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	return cfg
}

const apiSecret = "hunter2-never-echoed"

// TestConnectorConfigCheckedAgainstSpec: the API refuses config and
// credentials that do not fit the type's ConfigSpec with a 400 naming the
// field, and never echoes a secret.
func TestConnectorConfigCheckedAgainstSpec(t *testing.T) {
	e, admin := newConnectorEnv(t)
	awsCfg := map[string]any{"region": "eu-central-1"}
	awsCreds := map[string]any{"access_key_id": "AKIAAPITEST000000000", "secret_access_key": "ApiSecret0000000000000000000000000000000"}
	for _, tc := range []struct {
		name  string
		typ   string
		cfg   any
		creds any
		want  string
	}{
		{"unknown field", "ldap", ldapConfig(map[string]any{"port": 389}), nil,
			`ldap config: unknown field "port" (known: url, bind_dn, base_dn, user_base, group_base, ca_pem, tls_skip_verify, insecure_no_tls, user_object_classes, password_max_age_days, privileged_groups, sync_interval)`},
		{"wrong type bool", "ldap", ldapConfig(map[string]any{"insecure_no_tls": "yes"}), nil,
			`ldap config: field "insecure_no_tls" has the wrong type (want true or false)`},
		{"wrong type list", "ldap", ldapConfig(map[string]any{"privileged_groups": "admins"}), nil,
			`ldap config: field "privileged_groups" has the wrong type (want a list of strings)`},
		{"wrong type number", "aws", map[string]any{"region": "eu-central-1", "rotation_days": 1.5}, awsCreds,
			`aws config: field "rotation_days" has the wrong type (want a whole number)`},
		{"wrong type map", "agents", map[string]any{"labels": []string{"env"}}, nil,
			`agents config: field "labels" has the wrong type (want an object of strings)`},
		{"missing required", "ldap", ldapConfig(map[string]any{"bind_dn": nil}), nil, "ldap config: bind_dn is required"},
		{"empty required", "aws", map[string]any{"region": " "}, awsCreds, "aws config: region is required"},
		{"no config", "ldap", nil, nil, "ldap config: url is required"},
		{"not an object", "aws", []string{"region"}, awsCreds, "aws config: must be a JSON object"},
		{"sync interval", "agents", map[string]any{"sync_interval": "200h"}, nil, "agents config: sync_interval must be between 1m and 168h, not 200h"},
		{"unknown credential", "ldap", ldapConfig(nil), map[string]any{"password": apiSecret},
			`ldap credentials: unknown field "password" (known: bind_password)`},
		{"wrong credential type", "ldap", ldapConfig(nil), map[string]any{"bind_password": 12345678},
			`ldap credentials: field "bind_password" has the wrong type (want a string)`},
		{"missing credential", "aws", awsCfg, map[string]any{"access_key_id": "AKIAAPITEST000000000"}, "aws credentials: secret_access_key is required"},
		{"credentials for none", "agents", map[string]any{}, map[string]any{"token": apiSecret},
			"agents credentials: this connector type takes none; leave credentials empty or {}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.counts()
			body := map[string]any{"name": "x", "type": tc.typ, "config": tc.cfg}
			if tc.creds != nil {
				body["credentials"] = tc.creds
			}
			st, resp := e.do("POST", "/api/v1/connectors", admin, body)
			if st != http.StatusBadRequest || errCode(resp) != "invalid" || errMessage(resp) != tc.want {
				t.Errorf("%d %v\nwant 400 %q", st, resp, tc.want)
			}
			if strings.Contains(fmt.Sprint(resp), apiSecret) {
				t.Error("the error echoes a credential")
			}
			if after := e.counts(); after != before {
				t.Error("state changed")
			}
		})
	}

	// A PATCH is checked the same way.
	st, created := e.do("POST", "/api/v1/connectors", admin, map[string]any{"name": "dir", "type": "ldap", "config": ldapConfig(nil),
		"credentials": map[string]any{"bind_password": apiSecret}})
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, created)
	}
	path := fmt.Sprintf("/api/v1/connectors/%v", created["id"])
	st, resp := e.do("PATCH", path, admin, map[string]any{"config": ldapConfig(map[string]any{"password_max_age_days": "90"})})
	if st != http.StatusBadRequest || errMessage(resp) != `ldap config: field "password_max_age_days" has the wrong type (want a whole number)` {
		t.Errorf("patch with a wrong type: %d %v", st, resp)
	}

	// Moving where the credentials go needs them again; other changes do not.
	for _, change := range []map[string]any{{"url": "ldap://127.0.0.2:1"}, {"bind_dn": "cn=other,dc=example,dc=org"},
		{"insecure_no_tls": nil, "tls_skip_verify": true}} {
		st, resp := e.do("PATCH", path, admin, map[string]any{"config": ldapConfig(change)})
		if st != http.StatusBadRequest || errCode(resp) != "credentials_required" ||
			!strings.Contains(errMessage(resp), "changes where the stored credentials are sent: enter the credentials again") {
			t.Errorf("%v with kept credentials: %d %v", change, st, resp)
		}
	}
	if st, resp := e.do("PATCH", path, admin, map[string]any{"config": ldapConfig(map[string]any{"sync_interval": "2h"})}); st != http.StatusOK {
		t.Errorf("sync interval with kept credentials: %d %v", st, resp)
	}
	st, resp = e.do("PATCH", path, admin, map[string]any{"config": ldapConfig(map[string]any{"url": "ldap://127.0.0.2:1"}),
		"credentials": map[string]any{"bind_password": apiSecret}})
	if st != http.StatusOK || resp["config"].(map[string]any)["url"] != "ldap://127.0.0.2:1" {
		t.Errorf("url with credentials: %d %v", st, resp)
	}
	// Without stored credentials there is nothing to redirect.
	st, created = e.do("POST", "/api/v1/connectors", admin, map[string]any{"name": "bare", "type": "ldap", "config": ldapConfig(nil)})
	if st != http.StatusCreated {
		t.Fatalf("create without credentials: %d %v", st, created)
	}
	if st, resp := e.do("PATCH", fmt.Sprintf("/api/v1/connectors/%v", created["id"]), admin,
		map[string]any{"config": ldapConfig(map[string]any{"url": "ldap://127.0.0.3:1"})}); st != http.StatusOK {
		t.Errorf("url without stored credentials: %d %v", st, resp)
	}
}
