package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/connector/aws"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store/storetest"
)

// changeEnv is the API with the LDAP connector, the vault and a running
// engine, over a real store and a real slapd.
type changeEnv struct {
	*testEnv
	dir    *ldaptest.Server
	tokens map[string]string // admin, op, op2, appr, appr2, viewer
	connID int64
	logs   *lockedBuffer // everything the service, engine and API logged
}

// lockedBuffer collects logs from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func newChangeEnv(t *testing.T) *changeEnv { return newChangeEnvTB(t) }

func newChangeEnvTB(t testing.TB) *changeEnv { return newChangeEnvOpts(t, 0) }

// newChangeEnvOpts sets the engine's operation timeout (0: the default).
func newChangeEnvOpts(t testing.TB, opTimeout time.Duration) *changeEnv {
	t.Helper()
	dir := ldaptest.Start(t)
	db := storetest.MustOpenStore(t)
	v, err := vault.New([]byte("a test secret key that is long enough!"), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := app.NewRegistry()
	ldap.Register(reg)
	aws.Register(reg)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// One clock for the service and the engine, so tests that move it keep
	// change times and sync times comparable.
	clk := newClock()
	eng := engine.New(engine.Config{Store: db, Registry: reg, Sealer: v, Logger: log, Clock: clk.Now,
		Poll: 50 * time.Millisecond, LeaseTTL: 3 * time.Second, OpTimeout: opTimeout})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2), Registry: reg, Sealer: v, Queued: eng.Notify, Logger: log, Clock: clk.Now})
	tokens, err := auth.NewTokens(sharedKey(t), "nexplane", "nexplane-api", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, httpx.RequestIDs(api.New(api.Config{Service: svc, Tokens: tokens, Logger: log})))
	e := &changeEnv{testEnv: &testEnv{t: t, db: db, svc: svc, tokens: tokens, clock: clk, srv: srv}, dir: dir, tokens: map[string]string{}, logs: logs}
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
	logs := e.logs.Bytes()
	for _, s := range secrets {
		if bytes.Contains(haystack.Bytes(), []byte(s)) {
			e.t.Errorf("a secret appears in API responses or audit payloads")
		}
		if bytes.Contains(logs, []byte(s)) {
			e.t.Errorf("a secret appears in the logs")
		}
		for _, f := range files {
			if bytes.Contains(f, []byte(s)) {
				e.t.Errorf("a secret appears in plaintext in the database file")
			}
		}
	}
}

func TestChangeRules(t *testing.T) {
	e := newChangeEnv(t)
	disableBob := op("ldap.user.disable", map[string]any{"uid": "bob"})

	t.Run("roles", func(t *testing.T) {
		for _, who := range []string{"appr", "viewer"} {
			st, body := e.do("POST", "/api/v1/change-requests", e.tokens[who], map[string]any{
				"title": "x", "connector_id": e.connID, "operations": []any{disableBob}})
			if st != http.StatusForbidden {
				t.Errorf("create as %s: %d %v, want 403", who, st, body)
			}
		}
		id := e.create("op", disableBob)
		if st, _ := e.action("appr", id, "submit", nil); st != http.StatusForbidden {
			t.Errorf("approver submitting: %d, want 403", st)
		}
		e.mustAction("op", id, "submit", nil, "submitted")
		if st, body := e.action("op", id, "approve", nil); st != http.StatusForbidden {
			t.Errorf("operator approving: %d %v, want 403", st, body)
		}
		if st, body := e.action("viewer", id, "approve", nil); st != http.StatusForbidden {
			t.Errorf("viewer approving: %d %v, want 403", st, body)
		}
		if st, body := e.action("appr", id, "execute", nil); st != http.StatusForbidden {
			t.Errorf("approver executing: %d %v, want 403", st, body)
		}
		e.mustAction("op", id, "cancel", nil, "cancelled")
	})

	t.Run("nobody approves their own request", func(t *testing.T) {
		id := e.create("admin", disableBob)
		e.mustAction("admin", id, "submit", nil, "submitted")
		st, body := e.action("admin", id, "approve", map[string]string{"comment": "mine"})
		if st != http.StatusForbidden || !strings.Contains(errMessage(body), "your own") {
			t.Errorf("self-approval: %d %v", st, body)
		}
		if st, _ := e.action("admin", id, "reject", map[string]string{"comment": "mine"}); st != http.StatusForbidden {
			t.Errorf("self-rejection: %d", st)
		}
		e.mustAction("admin", id, "cancel", nil, "cancelled")
	})

	t.Run("approvals count once and reach the policy", func(t *testing.T) {
		two := 2
		if st, body := e.do("PATCH", fmt.Sprintf("/api/v1/connectors/%d", e.connID), e.tokens["admin"],
			map[string]any{"approval_policy": map[string]any{"required_approvals": two}}); st != 200 {
			t.Fatalf("set policy: %d %v", st, body)
		}
		defer e.do("PATCH", fmt.Sprintf("/api/v1/connectors/%d", e.connID), e.tokens["admin"],
			map[string]any{"approval_policy": map[string]any{"required_approvals": 1}})
		id := e.create("op", disableBob)
		e.mustAction("op", id, "submit", nil, "submitted")
		body := e.mustAction("appr", id, "approve", map[string]string{"comment": "one"}, "submitted")
		if body["approval_count"].(float64) != 1 {
			t.Errorf("approval_count = %v", body["approval_count"])
		}
		st, resp := e.action("appr", id, "approve", map[string]string{"comment": "again"})
		if st != http.StatusConflict || !strings.Contains(errMessage(resp), "already approved") {
			t.Errorf("second approval by the same approver: %d %v", st, resp)
		}
		if st, resp := e.action("op", id, "execute", nil); st != http.StatusConflict || !strings.Contains(errMessage(resp), "submitted") {
			t.Errorf("execute with 1 of 2 approvals: %d %v, want 409 naming the state", st, resp)
		}
		e.mustAction("appr2", id, "approve", map[string]string{"comment": "two"}, "approved")

		// Editing sends it back to draft and voids both approvals.
		st, edited := e.do("PATCH", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["op"], map[string]any{"title": "edited title"})
		if st != 200 || edited["status"] != "draft" || edited["approval_count"].(float64) != 0 {
			t.Fatalf("edit approved request: %d %v", st, edited)
		}
		for _, a := range edited["approvals"].([]any) {
			if a.(map[string]any)["void"] != true {
				t.Errorf("approval not voided: %v", a)
			}
		}
		e.mustAction("op", id, "submit", nil, "submitted")
		e.mustAction("appr", id, "approve", map[string]string{"comment": "re-approve"}, "submitted")
		e.mustAction("appr2", id, "approve", nil, "approved")
		if st, resp := e.action("op", id, "cancel", nil); st != http.StatusConflict || !strings.Contains(errMessage(resp), "it is approved") {
			t.Errorf("cancel approved: %d %v, want 409", st, resp)
		}
	})

	t.Run("illegal transitions name the state", func(t *testing.T) {
		id := e.create("op", disableBob)
		cases := []struct{ who, action, state string }{
			{"appr", "approve", "draft"}, {"op", "execute", "draft"}, {"op", "resume", "draft"},
		}
		for _, c := range cases {
			st, body := e.action(c.who, id, c.action, nil)
			if st != http.StatusConflict || !strings.Contains(errMessage(body), "it is "+c.state) {
				t.Errorf("%s on %s: %d %v", c.action, c.state, st, body)
			}
		}
		e.mustAction("op", id, "submit", nil, "submitted")
		if st, body := e.action("op", id, "submit", nil); st != http.StatusConflict || !strings.Contains(errMessage(body), "it is submitted") {
			t.Errorf("double submit: %d %v", st, body)
		}
		if st, body := e.action("appr", id, "reject", map[string]string{"comment": " "}); st != http.StatusBadRequest || !strings.Contains(errMessage(body), "comment is required") {
			t.Errorf("reject without comment: %d %v", st, body)
		}
		e.mustAction("appr", id, "reject", map[string]string{"comment": "not now"}, "rejected")
		if st, body := e.do("PATCH", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["op"], map[string]any{"title": "x"}); st != http.StatusConflict || !strings.Contains(errMessage(body), "rejected") {
			t.Errorf("edit rejected: %d %v", st, body)
		}
	})

	t.Run("emergency change", func(t *testing.T) {
		id := e.create("op", op("ldap.user.enable", map[string]any{"uid": "bob"}))
		e.mustAction("op", id, "submit", nil, "submitted")
		if st, _ := e.action("op", id, "execute", map[string]any{"emergency": true, "justification": "incident 42: account compromised"}); st != http.StatusForbidden {
			t.Errorf("operator emergency: %d, want 403", st)
		}
		if st, body := e.action("admin", id, "execute", map[string]any{"emergency": true, "justification": "short"}); st != http.StatusBadRequest {
			t.Errorf("emergency without a real justification: %d %v", st, body)
		}
		e.mustAction("admin", id, "execute", map[string]any{"emergency": true, "justification": "incident 42: account compromised"}, "executing")
		body := e.waitDone(id)
		em, _ := body["emergency"].(map[string]any)
		if body["status"] != "succeeded" || em == nil || em["needs_review"] != true {
			t.Fatalf("emergency run: %v", body)
		}
		st, list := e.do("GET", "/api/v1/change-requests?needs_review=true", e.tokens["viewer"], nil)
		if st != 200 || len(list["change_requests"].([]any)) != 1 {
			t.Errorf("needs_review list: %d %v", st, list)
		}
		if st, resp := e.action("admin", id, "review", map[string]string{"comment": "fine"}); st != http.StatusForbidden {
			t.Errorf("review by the executing admin: %d %v", st, resp)
		}
		reviewed := e.mustAction("appr", id, "review", map[string]string{"comment": "checked the incident ticket"}, "succeeded")
		if reviewed["emergency"].(map[string]any)["needs_review"] != false {
			t.Errorf("still needs review: %v", reviewed)
		}
	})

	t.Run("stops at the first failure", func(t *testing.T) {
		// carol exists when planned, is deleted by op 2, so op 3 fails and op 4 is skipped.
		_, made := e.run(op("ldap.user.create", map[string]any{"uid": "carol", "cn": "Carol", "sn": "Doe", "mail": "carol@example.org"}))
		if made["status"] != "succeeded" {
			t.Fatalf("create carol: %v", made)
		}
		_, body := e.run(
			op("ldap.group.add_member", map[string]any{"group": "admins", "uid": "bob"}),
			op("ldap.user.delete", map[string]any{"uid": "carol"}),
			op("ldap.user.disable", map[string]any{"uid": "carol"}),
			op("ldap.group.remove_member", map[string]any{"group": "admins", "uid": "bob"}),
		)
		var statuses []string
		for _, o := range body["operations"].([]any) {
			statuses = append(statuses, o.(map[string]any)["status"].(string))
		}
		if body["status"] != "failed" || strings.Join(statuses, ",") != "succeeded,succeeded,failed,skipped" {
			t.Errorf("status %v, operations %v", body["status"], statuses)
		}
		if msg := body["operations"].([]any)[2].(map[string]any)["error"]; msg == nil || msg == "" {
			t.Error("failed operation has no error")
		}
		if !e.isMember("admins", "bob") {
			t.Error("op 1 was not applied (or op 4 ran)")
		}
	})

	t.Run("bad input", func(t *testing.T) {
		cases := []struct {
			name string
			body map[string]any
			want int
			msg  string
		}{
			{"unknown op type", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.explode", map[string]any{"uid": "bob"})}}, 400, "unknown operation type"},
			{"no operations", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{}}, 400, "at least one operation"},
			{"no title", map[string]any{"title": "", "connector_id": e.connID, "operations": []any{disableBob}}, 400, "title is required"},
			{"unknown connector", map[string]any{"title": "t", "connector_id": 9999, "operations": []any{disableBob}}, 400, "does not exist"},
			{"dn injection", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.disable", map[string]any{"uid": "bob,ou=people"})}}, 400, "uid"},
			{"filter injection", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.disable", map[string]any{"uid": "*)(uid=*"})}}, 400, "uid"},
			{"unknown param", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.disable", map[string]any{"uid": "bob", "shell": "/bin/sh"})}}, 400, "unknown field"},
			{"wrong param type", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.disable", map[string]any{"uid": 7})}}, 400, "wrong type"},
		}
		for _, c := range cases {
			before := e.counts()
			st, body := e.do("POST", "/api/v1/change-requests", e.tokens["op"], c.body)
			if st != c.want || !strings.Contains(errMessage(body), c.msg) {
				t.Errorf("%s: %d %v, want %d with %q", c.name, st, body, c.want, c.msg)
			}
			if after := e.counts(); after != before {
				t.Errorf("%s: state changed %+v -> %+v", c.name, before, after)
			}
		}
		// A plan that fails at submission (no such user) refuses it.
		id := e.create("op", op("ldap.user.disable", map[string]any{"uid": "nosuchuser"}))
		st, body := e.action("op", id, "submit", nil)
		if st != http.StatusBadRequest || !strings.Contains(errMessage(body), "nosuchuser") {
			t.Errorf("submit with failing plan: %d %v", st, body)
		}
	})
}

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

// TestConcurrentTransitionsRace fires the same transition from many clients
// at once: exactly one wins, the others get 409, and the audit log records
// one transition.
func TestConcurrentTransitionsRace(t *testing.T) {
	e := newChangeEnv(t)
	id := e.create("op", op("ldap.user.disable", map[string]any{"uid": "bob"}))
	e.mustAction("op", id, "submit", nil, "submitted")

	race := func(n int, who []string, action string, body any) (wins, conflicts int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				st, _ := e.action(who[i%len(who)], id, action, body)
				mu.Lock()
				defer mu.Unlock()
				switch st {
				case http.StatusOK:
					wins++
				case http.StatusConflict:
					conflicts++
				default:
					t.Errorf("%s: unexpected status %d", action, st)
				}
			}()
		}
		close(start)
		wg.Wait()
		return wins, conflicts
	}
	if w, c := race(6, []string{"appr", "appr2"}, "approve", map[string]string{"comment": "go"}); w != 1 || c != 5 {
		t.Errorf("concurrent approvals: %d won, %d conflicts; want 1 and 5", w, c)
	}
	if w, c := race(6, []string{"op", "op2", "admin"}, "execute", nil); w != 1 || c != 5 {
		t.Errorf("concurrent executes: %d won, %d conflicts; want 1 and 5", w, c)
	}
	body := e.waitDone(id)
	if body["status"] != "succeeded" || len(body["approvals"].([]any)) != 1 {
		t.Errorf("after the race: %v with %d approvals", body["status"], len(body["approvals"].([]any)))
	}
	for _, ev := range []string{"change.approved", "change.execution_started", "change.operation_succeeded"} {
		evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{ResourceType: "change_request", ResourceID: fmt.Sprint(id), Event: ev})
		if err != nil || len(evs) != 1 {
			t.Errorf("%s recorded %d times (%v), want once", ev, len(evs), err)
		}
	}
}

// TestOperationTimeout hangs the directory mid-run: the operation in flight
// fails after the configured timeout, the rest are skipped, and the request
// fails with a clear error instead of hanging.
func TestOperationTimeout(t *testing.T) {
	e := newChangeEnvOpts(t, time.Second)
	var ops []map[string]any
	for i := 0; i < 20; i++ {
		typ := "ldap.user.disable"
		if i%2 == 1 {
			typ = "ldap.user.enable"
		}
		ops = append(ops, op(typ, map[string]any{"uid": "bob"}))
	}
	id := e.create("op", ops...)
	e.mustAction("op", id, "submit", nil, "submitted")
	e.mustAction("appr", id, "approve", nil, "approved")
	e.mustAction("op", id, "execute", nil, "executing")
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := e.do("GET", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["op"], nil)
		if body["operations"].([]any)[0].(map[string]any)["status"] == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first operation never finished")
		}
		time.Sleep(time.Millisecond)
	}
	if err := e.dir.Pause(); err != nil {
		t.Fatal(err)
	}
	defer e.dir.Resume()
	body := e.waitDone(id)
	if body["status"] == "succeeded" {
		t.Skip("all operations finished before the directory was paused; nothing to time out")
	}
	var failed map[string]any
	for _, o := range body["operations"].([]any) {
		if m := o.(map[string]any); m["status"] == "failed" {
			failed = m
		}
	}
	if body["status"] != "failed" || failed == nil || !strings.Contains(fmt.Sprint(failed["error"]), "timed out") {
		t.Errorf("after a hung operation: status %v, failed op %v", body["status"], failed)
	}
}
