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
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
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
	return newChangeEnvWith(t, opTimeout, "")
}

// newChangeEnvWith also picks the store driver (testkit.Options.Driver).
func newChangeEnvWith(t testing.TB, opTimeout time.Duration, driver string) *changeEnv {
	t.Helper()
	dir := ldaptest.Start(t)
	logs := &lockedBuffer{}
	// One clock for the service and the engine, so tests that move it keep
	// change times and sync times comparable.
	te := newTestEnvWith(t, testkit.Options{
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) {
			ldap.Register(reg)
			aws.Register(reg)
		},
		Engine: &engine.Config{Poll: 50 * time.Millisecond, LeaseTTL: 3 * time.Second, OpTimeout: opTimeout},
		Driver: driver,
	}, func(c *api.Config, _ *testkit.Env) {
		// Tokens on real time: tests that move the clock keep their sessions.
		var err error
		if c.Tokens, err = auth.NewTokens(testkit.RSAKey(t, 0), "nexplane", "nexplane-api", time.Now); err != nil {
			t.Fatal(err)
		}
	})
	e := &changeEnv{testEnv: te, dir: dir, tokens: map[string]string{}, logs: logs}
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
	if action == "approve" || action == "reject" {
		body = e.withRevision(id, body)
	}
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

// withRevision adds the request's current revision to an approve or reject
// body that gives none, as a client that just read the request would.
func (e *changeEnv) withRevision(id int64, body any) any {
	e.t.Helper()
	out := map[string]any{}
	switch b := body.(type) {
	case nil:
	case map[string]string:
		for k, v := range b {
			out[k] = v
		}
	case map[string]any:
		for k, v := range b {
			out[k] = v
		}
	default:
		return body
	}
	if _, ok := out["revision"]; !ok {
		c, err := e.db.ChangeRequestByID(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		out["revision"] = c.Revision
	}
	return out
}
