package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store"
)

// changeEnv is the API with the LDAP connector, the vault and a running
// engine, over a real store and a real slapd.
type changeEnv struct {
	*testEnv
	dir        *ldaptest.Server
	tokens     map[string]string // admin, op, op2, appr, appr2, viewer
	connID     int64
	sqlitePath string
}

func newChangeEnv(t *testing.T) *changeEnv {
	t.Helper()
	dir := ldaptest.Start(t)
	db := store.MustOpenStore(t)
	v, err := vault.New([]byte("a test secret key that is long enough!"), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := app.NewRegistry()
	ldap.Register(reg)
	eng := engine.New(engine.Config{Store: db, Registry: reg, Sealer: v, Poll: 50 * time.Millisecond, LeaseTTL: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	clk := &clock{t: time.Now().UTC()}
	svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2), Registry: reg, Sealer: v, Queued: eng.Notify})
	tokens, err := auth.NewTokens(sharedKey(t), "nexplane", "nexplane-api", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, httpx.RequestIDs(api.New(api.Config{Service: svc, Tokens: tokens})))
	e := &changeEnv{testEnv: &testEnv{t: t, db: db, svc: svc, tokens: tokens, clock: clk, srv: srv}, dir: dir, tokens: map[string]string{}}
	for name, role := range map[string]app.Role{"admin": app.RoleAdmin, "op": app.RoleOperator, "op2": app.RoleOperator,
		"appr": app.RoleApprover, "appr2": app.RoleApprover, "viewer": app.RoleViewer} {
		e.mkUser(name+"@example.com", role)
		e.tokens[name] = e.login(name + "@example.com")
	}
	st, body := e.do("POST", "/api/v1/connectors", e.tokens["admin"], map[string]any{
		"name": "corp-directory", "type": "ldap", "config": jsonRaw(dir.ConfigJSON()), "credentials": jsonRaw(dir.CredentialsJSON()),
	})
	if st != http.StatusCreated {
		t.Fatalf("create connector: %d %v", st, body)
	}
	e.connID = int64(body["id"].(float64))
	return e
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }

// create makes a change request as op and returns its id.
func (e *changeEnv) create(who string, ops ...map[string]any) int64 {
	e.t.Helper()
	st, body := e.do("POST", "/api/v1/change-requests", e.tokens[who], map[string]any{
		"title": "test change", "description": "why: a test", "connector_id": e.connID, "operations": ops})
	if st != http.StatusCreated || body["status"] != "draft" {
		e.t.Fatalf("create change: %d %v", st, body)
	}
	return int64(body["id"].(float64))
}

func (e *changeEnv) action(who string, id int64, action string, body any) (int, map[string]any) {
	e.t.Helper()
	return e.do("POST", fmt.Sprintf("/api/v1/change-requests/%d/%s", id, action), e.tokens[who], body)
}

func (e *changeEnv) mustAction(who string, id int64, action string, body any, wantStatus string) map[string]any {
	e.t.Helper()
	st, resp := e.action(who, id, action, body)
	if st != http.StatusOK || resp["status"] != wantStatus {
		e.t.Fatalf("%s %s by %s: %d %v, want status %s", action, fmt.Sprint(id), who, st, resp, wantStatus)
	}
	return resp
}

// waitDone polls until the request leaves executing.
func (e *changeEnv) waitDone(id int64) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, body := e.do("GET", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["viewer"], nil)
		if st != 200 {
			e.t.Fatalf("get change: %d %v", st, body)
		}
		if s := body["status"]; s != "executing" && s != "approved" {
			return body
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("change %d still executing after 30s", id)
	return nil
}

// run takes a request through submit, approve and execute as three people.
func (e *changeEnv) run(ops ...map[string]any) (int64, map[string]any) {
	e.t.Helper()
	id := e.create("op", ops...)
	e.mustAction("op", id, "submit", nil, "submitted")
	e.mustAction("appr", id, "approve", map[string]string{"comment": "looks right"}, "approved")
	e.mustAction("op", id, "execute", nil, "executing")
	return id, e.waitDone(id)
}

func op(typ string, params map[string]any) map[string]any {
	return map[string]any{"type": typ, "params": params}
}

func (e *changeEnv) entry(dn string, attrs ...string) *goldap.Entry {
	e.t.Helper()
	l := e.dir.Admin(e.t)
	defer l.Close()
	res, err := l.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", append(attrs, "pwdAccountLockedTime", "member"), nil))
	if goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Entries[0]
}

func (e *changeEnv) userDN(uid string) string { return "uid=" + uid + "," + e.dir.UserBase }
func (e *changeEnv) groupDN(cn string) string { return "cn=" + cn + "," + e.dir.GroupBase }
func (e *changeEnv) isMember(group, uid string) bool {
	for _, m := range e.entry(e.groupDN(group)).GetAttributeValues("member") {
		if strings.EqualFold(m, e.userDN(uid)) {
			return true
		}
	}
	return false
}

func (e *changeEnv) reveal(who string, id int64, body map[string]any) string {
	e.t.Helper()
	opID := int64(body["operations"].([]any)[0].(map[string]any)["id"].(float64))
	path := fmt.Sprintf("/api/v1/change-requests/%d/operations/%d/reveal", id, opID)
	st, resp := e.do("POST", path, e.tokens[who], nil)
	if st != 200 {
		e.t.Fatalf("reveal: %d %v", st, resp)
	}
	// Shown once: a second look finds nothing.
	if st, _ := e.do("POST", path, e.tokens[who], nil); st != http.StatusNotFound {
		e.t.Errorf("second reveal: %d, want 404", st)
	}
	return resp["secret"].(string)
}

// TestEveryLDAPOperationThroughTheAPI runs each operation type through the
// whole review path and reads the directory afterwards.
func TestEveryLDAPOperationThroughTheAPI(t *testing.T) {
	e := newChangeEnv(t)
	var secrets []string

	// Create carol in devs; her generated password is shown once to the requester only.
	id, body := e.run(op("ldap.user.create", map[string]any{"uid": "carol", "cn": "Carol Doe", "sn": "Doe", "mail": "carol@example.org", "groups": []string{"devs"}}))
	if body["status"] != "succeeded" {
		t.Fatalf("user.create: %v", body)
	}
	if st, _ := e.do("POST", fmt.Sprintf("/api/v1/change-requests/%d/operations/%d/reveal", id,
		int64(body["operations"].([]any)[0].(map[string]any)["id"].(float64))), e.tokens["appr"], nil); st != http.StatusForbidden {
		t.Errorf("reveal by someone else: %d, want 403", st)
	}
	carolPW := e.reveal("op", id, body)
	secrets = append(secrets, carolPW)
	if err := e.dir.CanBind(e.userDN("carol"), carolPW); err != nil {
		t.Errorf("carol cannot bind with the revealed password: %v", err)
	}
	if !e.isMember("devs", "carol") {
		t.Error("carol not in devs")
	}

	steps := []struct {
		name  string
		op    map[string]any
		check func() error
	}{
		{"disable bob", op("ldap.user.disable", map[string]any{"uid": "bob"}), func() error {
			if e.entry(e.userDN("bob")).GetAttributeValue("pwdAccountLockedTime") == "" {
				return fmt.Errorf("bob has no pwdAccountLockedTime")
			}
			if e.dir.CanBind(e.userDN("bob"), e.dir.UserPasswords["bob"]) == nil {
				return fmt.Errorf("locked bob can still bind")
			}
			return nil
		}},
		{"enable bob", op("ldap.user.enable", map[string]any{"uid": "bob"}), func() error {
			if v := e.entry(e.userDN("bob")).GetAttributeValue("pwdAccountLockedTime"); v != "" {
				return fmt.Errorf("bob still locked: %q", v)
			}
			return e.dir.CanBind(e.userDN("bob"), e.dir.UserPasswords["bob"])
		}},
		{"add bob to admins", op("ldap.group.add_member", map[string]any{"group": "admins", "uid": "bob"}), func() error {
			if !e.isMember("admins", "bob") {
				return fmt.Errorf("bob not in admins")
			}
			return nil
		}},
		{"remove bob from admins", op("ldap.group.remove_member", map[string]any{"group": "admins", "uid": "bob"}), func() error {
			if e.isMember("admins", "bob") {
				return fmt.Errorf("bob still in admins")
			}
			return nil
		}},
		{"delete carol", op("ldap.user.delete", map[string]any{"uid": "carol"}), func() error {
			if e.entry(e.userDN("carol")) != nil {
				return fmt.Errorf("carol still exists")
			}
			if e.isMember("devs", "carol") {
				return fmt.Errorf("carol still listed in devs")
			}
			return nil
		}},
	}
	for _, s := range steps {
		_, body := e.run(s.op)
		if body["status"] != "succeeded" {
			t.Fatalf("%s: %v", s.name, body)
		}
		if err := s.check(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}

	// Reset alice's password: the new one binds, the old one no longer does.
	id, body = e.run(op("ldap.user.reset_password", map[string]any{"uid": "alice"}))
	if body["status"] != "succeeded" {
		t.Fatalf("reset_password: %v", body)
	}
	alicePW := e.reveal("op", id, body)
	secrets = append(secrets, alicePW)
	if err := e.dir.CanBind(e.userDN("alice"), alicePW); err != nil {
		t.Errorf("alice cannot bind with the new password: %v", err)
	}
	if e.dir.CanBind(e.userDN("alice"), e.dir.UserPasswords["alice"]) == nil {
		t.Error("alice's old password still binds")
	}

	// Rotate the connector's own credentials: the old bind password dies,
	// the connector keeps working with the new one it stored.
	_, before := e.do("GET", fmt.Sprintf("/api/v1/connectors/%d", e.connID), e.tokens["admin"], nil)
	_, body = e.run(op("connector.rotate_credentials", map[string]any{}))
	if body["status"] != "succeeded" {
		t.Fatalf("rotate_credentials: %v", body)
	}
	if e.dir.CanBind(e.dir.BindDN, e.dir.BindPassword) == nil {
		t.Error("the old bind password still works after rotation")
	}
	st, after := e.do("GET", fmt.Sprintf("/api/v1/connectors/%d", e.connID), e.tokens["admin"], nil)
	if st != 200 || after["credentials_updated_at"] == before["credentials_updated_at"] {
		t.Errorf("credentials_updated_at did not move: %v -> %v", before["credentials_updated_at"], after["credentials_updated_at"])
	}
	st, test := e.do("POST", fmt.Sprintf("/api/v1/connectors/%d/test", e.connID), e.tokens["admin"], nil)
	if st != 200 || test["ok"] != true {
		t.Errorf("connector test after rotation: %d %v", st, test)
	}

	// No secret reached an API response, the audit log or the database file.
	secrets = append(secrets, e.dir.BindPassword)
	e.assertSecretsNowhere(secrets)
}

// assertSecretsNowhere greps API listings, the audit log and the SQLite
// database file for each secret's bytes.
func (e *changeEnv) assertSecretsNowhere(secrets []string) {
	e.t.Helper()
	var haystack bytes.Buffer
	for _, path := range []string{"/api/v1/connectors", "/api/v1/change-requests?limit=200", "/api/v1/audit?limit=500"} {
		_, raw := e.doRaw("GET", path, e.tokens["admin"], nil, nil)
		haystack.Write(raw)
	}
	if err := e.db.WalkAudit(context.Background(), time.Time{}, time.Time{}, func(ev *app.AuditEvent) error {
		haystack.Write(ev.Payload)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	var files [][]byte
	if p := e.db.Path(); p != "" {
		for _, f := range []string{p, p + "-wal"} {
			if b, err := os.ReadFile(f); err == nil {
				files = append(files, b)
			}
		}
		if len(files) == 0 {
			e.t.Fatalf("could not read the database file %s", filepath.Base(p))
		}
	}
	for _, s := range secrets {
		if bytes.Contains(haystack.Bytes(), []byte(s)) {
			e.t.Errorf("a secret appears in API responses or audit payloads")
		}
		for _, f := range files {
			if bytes.Contains(f, []byte(s)) {
				e.t.Errorf("a secret appears in plaintext in the database file")
			}
		}
	}
}
