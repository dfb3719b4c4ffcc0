package api_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/internal/testkit"
)

const testAgentURL = "https://agents.example.com:8444"

// newAgentsEnv is newTestEnv with the agent CA configured.
func newAgentsEnv(t *testing.T) (*testEnv, *pki.CA) {
	t.Helper()
	var ca *pki.CA
	e := newTestEnvWith(t, testkit.Options{Agents: true}, func(c *api.Config, k *testkit.Env) {
		c.AgentURL, c.CAFingerprint = testAgentURL, k.CA.Fingerprint
		ca = k.CA
	})
	return e, ca
}

func csrPEM(t testing.TB) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "h"}}, testkit.RSAKey(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// mkAgent enrolls an agent through the service, as the agent listener would.
func (e *testEnv) mkAgent() *app.Enrollment {
	e.t.Helper()
	tok, _, err := e.svc.CreateEnrollmentToken(context.Background(), app.SystemActor("test"), map[string]string{"env": "prod"}, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.svc.Enroll(context.Background(), tok, csrPEM(e.t), "db-1")
	if err != nil {
		e.t.Fatal(err)
	}
	return en
}

func TestAgentsRoleMatrix(t *testing.T) {
	e, _ := newAgentsEnv(t)
	tokens := map[app.Role]string{}
	for _, r := range app.Roles {
		e.mkUser(string(r)+"@example.com", r)
		tokens[r] = e.login(string(r) + "@example.com")
	}
	for _, r := range app.Roles {
		admin := r == app.RoleAdmin
		en := e.mkAgent()
		id := en.Agent.ID
		for _, tc := range []struct {
			method, path string
			body         any
			allowed      bool
			ok           int
		}{
			{"POST", "/api/v1/agents/enrollment-tokens", map[string]any{"ttl": "2h"}, admin, http.StatusCreated},
			{"POST", "/api/v1/agents/" + id + "/revoke", nil, admin, http.StatusOK},
			{"GET", "/api/v1/agents", nil, true, http.StatusOK},
			{"GET", "/api/v1/agents/" + id, nil, true, http.StatusOK},
		} {
			status, body := e.do(tc.method, tc.path, tokens[r], tc.body)
			want := tc.ok
			if !tc.allowed {
				want = http.StatusForbidden
			}
			if status != want {
				t.Errorf("%s %s %s: %d %v, want %d", r, tc.method, tc.path, status, body, want)
			}
		}
		if status, _ := e.do("GET", "/api/v1/agents", "", nil); status != http.StatusUnauthorized {
			t.Errorf("anonymous list: %d", status)
		}
	}
}

func TestEnrollmentTokenAPI(t *testing.T) {
	e, ca := newAgentsEnv(t)
	e.mkUser("admin@example.com", app.RoleAdmin)
	tok := e.login("admin@example.com")

	status, body := e.do("POST", "/api/v1/agents/enrollment-tokens", tok,
		map[string]any{"labels": map[string]string{"env": "prod", "team.name": "web_ops-1"}, "ttl": "1h"})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, body)
	}
	token, _ := body["token"].(string)
	want := "nexplane-agent enroll --server " + testAgentURL + " --token " + token + " --ca-sha256 " + ca.Fingerprint()
	if token == "" || body["command"] != want {
		t.Errorf("command %q\nwant    %q", body["command"], want)
	}
	if labels, _ := body["labels"].(map[string]any); labels["team.name"] != "web_ops-1" || body["expires_at"] == nil {
		t.Errorf("body %v", body)
	}
	// Stored hashed; the audit record names the labels, never the token.
	if et, err := e.db.EnrollmentTokenByHash(context.Background(), app.HashEnrollmentToken(token)); err != nil || et.CreatedBy == "" {
		t.Errorf("stored token %+v %v", et, err)
	}
	evs, _ := e.db.ListAudit(context.Background(), app.AuditFilter{Event: "agent.enrollment_token_created"})
	if len(evs) != 1 || strings.Contains(string(evs[0].Payload), token) || !strings.Contains(string(evs[0].Payload), "web_ops-1") {
		t.Errorf("audit %+v", evs)
	}
	// No body at all: default labels and TTL.
	if status, body := e.do("POST", "/api/v1/agents/enrollment-tokens", tok, nil); status != http.StatusCreated {
		t.Errorf("empty body: %d %v", status, body)
	}

	before := e.counts()
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"ttl too long", map[string]any{"ttl": "25h"}, "ttl"},
		{"ttl zero", map[string]any{"ttl": "0s"}, "ttl"},
		{"ttl too short", map[string]any{"ttl": "30s"}, "ttl"},
		{"ttl negative", map[string]any{"ttl": "-1h"}, "ttl"},
		{"ttl words", map[string]any{"ttl": "abc"}, "ttl"},
		{"ttl number", `{"ttl":3600}`, "ttl"},
		{"label key upper", map[string]any{"labels": map[string]string{"Env": "x"}}, "label key"},
		{"label key space", map[string]any{"labels": map[string]string{"a b": "x"}}, "label key"},
		{"label key empty", map[string]any{"labels": map[string]string{"": "x"}}, "label key"},
		{"label value long", map[string]any{"labels": map[string]string{"env": strings.Repeat("x", 129)}}, "value"},
		{"label value control", map[string]any{"labels": map[string]string{"env": "a\nb"}}, "value"},
		{"unknown field", `{"ttl":"1h","admin":true}`, "unknown field"},
		{"labels not object", `{"labels":["a"]}`, "labels"},
	} {
		status, body := e.do("POST", "/api/v1/agents/enrollment-tokens", tok, tc.body)
		if status != http.StatusBadRequest || !strings.Contains(errMessage(body), tc.want) {
			t.Errorf("%s: %d %v, want 400 with %q", tc.name, status, body, tc.want)
		}
	}
	if after := e.counts(); after != before {
		t.Errorf("refused requests changed something: %+v -> %+v", before, after)
	}
}

func TestAgentsListGetRevoke(t *testing.T) {
	e, _ := newAgentsEnv(t)
	e.mkUser("admin@example.com", app.RoleAdmin)
	tok := e.login("admin@example.com")
	en := e.mkAgent()
	id := en.Agent.ID

	status, body := e.do("GET", "/api/v1/agents", tok, nil)
	list, _ := body["agents"].([]any)
	if status != 200 || len(list) != 1 {
		t.Fatalf("list: %d %v", status, body)
	}
	ag := list[0].(map[string]any)
	if ag["id"] != id || ag["status"] != "offline" || ag["last_seen"] != nil || ag["revoked"] != false ||
		ag["cert_expires_at"] == nil || ag["labels"].(map[string]any)["env"] != "prod" {
		t.Errorf("listed agent %v", ag)
	}
	status, ag = e.do("GET", "/api/v1/agents/"+id, tok, nil)
	if status != 200 || ag["hostname"] != "db-1" || ag["users"] == nil {
		t.Errorf("get: %d %v", status, ag)
	}
	for _, bad := range []string{"ffffffffffffffff", "nope", "..%2f"} {
		if status, _ := e.do("GET", "/api/v1/agents/"+bad, tok, nil); status != http.StatusNotFound {
			t.Errorf("get %s: %d", bad, status)
		}
		if status, _ := e.do("POST", "/api/v1/agents/"+bad+"/revoke", tok, nil); status != http.StatusNotFound {
			t.Errorf("revoke %s: %d", bad, status)
		}
	}
	if status, body := e.do("POST", "/api/v1/agents/"+id+"/revoke", tok, `{"x":1}`); status != http.StatusBadRequest {
		t.Errorf("revoke with unknown field: %d %v", status, body)
	}
	status, ag = e.do("POST", "/api/v1/agents/"+id+"/revoke", tok, nil)
	if status != 200 || ag["revoked"] != true || ag["status"] != "revoked" || ag["revoked_at"] == nil {
		t.Errorf("revoke: %d %v", status, ag)
	}
	if status, _ := e.do("POST", "/api/v1/agents/"+id+"/revoke", tok, nil); status != 200 {
		t.Errorf("second revoke: %d", status)
	}
	evs, _ := e.db.ListAudit(context.Background(), app.AuditFilter{Event: "agent.revoked"})
	if len(evs) != 1 || evs[0].ResourceID != id || evs[0].ActorEmail != "admin@example.com" {
		t.Errorf("revocation audit %+v", evs)
	}
}

// TestAgentCertificateOpensNoUserAPI: the main listener never asks for
// client certificates, so an agent's certificate authenticates nothing
// there; only a bearer token does.
func TestAgentCertificateOpensNoUserAPI(t *testing.T) {
	e, ca := newAgentsEnv(t)
	en := e.mkAgent()
	block, _ := pem.Decode(en.CertPEM)
	pair := tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: testkit.RSAKey(t, 0)}

	srv := testkit.Serve(t, api.New(api.Config{Service: e.svc, Tokens: e.tokens}), testkit.ServerOptions{TLS: true})
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	roots.AddCert(ca.Certificate())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }}}}
	for _, p := range []string{"/api/v1/me", "/api/v1/agents", "/api/v1/users", "/api/v1/audit"} {
		resp, err := client.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with an agent certificate: %d, want 401", p, resp.StatusCode)
		}
		if resp.TLS != nil && len(resp.TLS.PeerCertificates) == 0 {
			t.Error("no server certificate")
		}
	}
}
