package agentapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store/storetest"
)

func TestEnrollHeartbeatPollResultsRenew(t *testing.T) {
	e := newEnv(t, envOpts{serverID: "server-a"})
	ctx := context.Background()
	a := e.enroll(0)

	row, err := e.db.AgentByID(ctx, a.id)
	if err != nil || row.Hostname != "web-1" || row.Labels["env"] != "test" || row.Revoked {
		t.Fatalf("agent row %+v %v", row, err)
	}
	block, _ := pem.Decode(a.certPEM)
	cert, _ := x509.ParseCertificate(block.Bytes)
	if cert.Subject.CommonName != "agent:"+a.id || pki.SerialString(cert.SerialNumber) != row.CertSerial {
		t.Fatalf("certificate %v serial %s, row serial %s", cert.Subject, cert.SerialNumber.Text(16), row.CertSerial)
	}

	// Heartbeat: facts and inventory land on the row.
	hb := ops.Heartbeat{Facts: ops.Facts{Hostname: "web-1", OS: "linux", AgentVersion: "0.1.0", UptimeSeconds: 9},
		Users: []ops.HostUser{{Name: "alice", UID: 1000, Shell: "/bin/bash", SSHKeys: []ops.SSHKey{{Fingerprint: "SHA256:x", Type: "ssh-ed25519"}}}}}
	a.mustDo("POST", ops.PathHeartbeat, hb, http.StatusNoContent)
	row, _ = e.db.AgentByID(ctx, a.id)
	if row.Version != "0.1.0" || row.Status(time.Now()) != app.AgentOnline || !strings.Contains(string(row.Users), `"alice"`) {
		t.Errorf("after heartbeat %+v", row)
	}

	// A poll waits until work is queued, then carries it.
	type pollOut struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan pollOut, 1)
	go func() {
		s, b, err := a.do("GET", ops.PathWork+"?wait=20", nil)
		done <- pollOut{s, b, err}
	}()
	waitFor(t, func() bool { return e.hub.Waiting(a.id) })
	work := ops.Work{ID: "w-1", Type: "host.facts.refresh", Params: json.RawMessage(`{}`)}
	if err := e.hub.Enqueue(a.id, work); err != nil {
		t.Fatal(err)
	}
	var got pollOut
	select {
	case got = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("poll did not return the queued work")
	}
	var pr ops.PollResponse
	if got.err != nil || got.status != 200 || json.Unmarshal(got.body, &pr) != nil || len(pr.Work) != 1 || pr.Work[0].ID != "w-1" {
		t.Fatalf("poll: %d %s %v", got.status, got.body, got.err)
	}
	// The poll names this server as the agent's, for relays (app/dispatch).
	if row, err := e.db.AgentByID(ctx, a.id); err != nil || row.Server != "server-a" {
		t.Errorf("agent's server after a poll = %+v, %v", row, err)
	}
	// An empty poll answers an empty list, not null.
	if b := a.mustDo("GET", ops.PathWork+"?wait=0", nil, 200); strings.TrimSpace(string(b)) != `{"work":[]}` {
		t.Errorf("empty poll %s", b)
	}
	// Results: the delivered id is accepted, a foreign one is not.
	b := a.mustDo("POST", ops.PathResults, []ops.Result{{ID: "w-1", OK: true, Summary: "done"}, {ID: "other", OK: true}}, 200)
	if !strings.Contains(string(b), `"accepted":1`) {
		t.Errorf("results answer %s", b)
	}
	e.mu.Lock()
	if len(e.results) != 1 || e.results[0].ID != "w-1" || !e.results[0].OK {
		t.Errorf("results seen %+v", e.results)
	}
	e.mu.Unlock()

	// Renewal: a new key pair, a new certificate; the row's serial changes.
	oldClient, oldSerial := a.client, row.CertSerial
	newKeyPair := testkit.RSAKey(t, 1)
	var rr ops.RenewResponse
	if err := json.Unmarshal(a.mustDo("POST", ops.PathRenew, ops.RenewRequest{CSR: csrPEM(t, newKeyPair)}, 200), &rr); err != nil {
		t.Fatal(err)
	}
	row, _ = e.db.AgentByID(ctx, a.id)
	if row.CertSerial == oldSerial || row.PrevCertSerial != oldSerial {
		t.Fatalf("after renew: serial %s prev %s (old %s)", row.CertSerial, row.PrevCertSerial, oldSerial)
	}
	// No gap: the old certificate works until the new one is used …
	a.mustDo("POST", ops.PathHeartbeat, hb, http.StatusNoContent)
	a.useCert([]byte(rr.Certificate), newKeyPair)
	a.mustDo("POST", ops.PathHeartbeat, hb, http.StatusNoContent)
	// … and then no longer.
	status, body, err := doWith(t, oldClient, "POST", e.srv.URL+ops.PathHeartbeat, hb)
	if err != nil || status != http.StatusUnauthorized || !strings.Contains(errMessage(body), "replaced") {
		t.Errorf("old certificate after the swap: %d %s %v", status, body, err)
	}

	evs, err := e.db.ListAudit(ctx, app.AuditFilter{ResourceType: "agent", ResourceID: a.id, Limit: 10})
	if err != nil || len(evs) != 2 || evs[0].Event != "agent.certificate_renewed" || evs[1].Event != "agent.enrolled" ||
		evs[1].ActorType != app.ActorAgent {
		t.Errorf("audit %+v %v", evs, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRevocation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts envOpts
	}{{"same process", envOpts{}}, {"other process", envOpts{noNotify: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			if tc.opts.noNotify {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go dispatch.WatchRevocations(ctx, e.svc, e.hub, time.Second, nil)
			}
			a := e.enroll(0)
			a.mustDo("POST", ops.PathHeartbeat, ops.Heartbeat{}, http.StatusNoContent)
			type pollOut struct {
				status int
				body   []byte
				at     time.Time
			}
			done := make(chan pollOut, 1)
			go func() {
				s, b, _ := a.do("GET", ops.PathWork, nil) // default wait: 30 s
				done <- pollOut{s, b, time.Now()}
			}()
			waitFor(t, func() bool { return e.hub.Waiting(a.id) })

			revokedAt := time.Now()
			row, err := e.svc.RevokeAgent(context.Background(), app.SystemActor("test"), a.id)
			if err != nil || !row.Revoked {
				t.Fatalf("revoke: %+v %v", row, err)
			}
			// New requests are refused at once (the bound is 1 s).
			status, body, err := a.do("POST", ops.PathHeartbeat, ops.Heartbeat{})
			if err != nil || status != http.StatusForbidden || !strings.Contains(errMessage(body), "revoked") {
				t.Fatalf("request after revoke: %d %s %v", status, body, err)
			}
			if d := time.Since(revokedAt); d > time.Second {
				t.Errorf("refusal took %v", d)
			}
			// The open poll ends within 5 s (6 s of slack for slow machines).
			select {
			case p := <-done:
				if p.status != http.StatusForbidden {
					t.Errorf("poll ended %d %s", p.status, p.body)
				}
				t.Logf("poll closed %v after revocation", p.at.Sub(revokedAt))
			case <-time.After(6 * time.Second):
				t.Fatal("open poll not closed within 6 s of revocation")
			}
			// Revoked everywhere; revoking again changes nothing.
			if err := e.hub.Enqueue(a.id, ops.Work{ID: "x", Type: "host.facts.refresh"}); err == nil {
				t.Error("work queued for a revoked agent")
			}
			if _, err := e.svc.RevokeAgent(context.Background(), app.SystemActor("test"), a.id); err != nil {
				t.Fatal(err)
			}
			evs, _ := e.db.ListAudit(context.Background(), app.AuditFilter{Event: "agent.revoked"})
			if len(evs) != 1 {
				t.Errorf("%d agent.revoked events, want 1", len(evs))
			}
			status, _, _ = a.do("POST", ops.PathRenew, ops.RenewRequest{CSR: csrPEM(t, testkit.RSAKey(t, 1))})
			if status != http.StatusForbidden {
				t.Errorf("renew after revoke: %d", status)
			}
		})
	}
}

func TestEnrollmentRefusals(t *testing.T) {
	e := newEnv(t, envOpts{})
	key := testkit.RSAKey(t, 0)
	good := csrPEM(t, key)
	enroll := func(token, csr string) (int, string) {
		t.Helper()
		status, body, err := e.enrollRaw(ops.EnrollRequest{Token: token, CSR: csr, Hostname: "h"}, e.ca.Fingerprint())
		if err != nil {
			t.Fatal(err)
		}
		return status, errMessage(body)
	}
	const bad = "enrollment token is invalid, expired or already used"

	tok := e.token(nil)
	// Bad CSRs are refused without using up the token.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	block, _ := pem.Decode([]byte(good))
	block.Bytes[len(block.Bytes)-1] ^= 0x01
	tampered := string(pem.EncodeToMemory(block))
	for _, tc := range []struct{ name, csr, want string }{
		{"ecdsa", csrPEM(t, ec), "must be RSA-2048, not ECDSA"},
		{"rsa1024", csrPEM(t, small), "must be RSA-2048, not RSA-1024"},
		{"tampered", tampered, "signature does not verify"},
		{"not pem", "hello", "CERTIFICATE REQUEST"},
		{"certificate", string(e.ca.CAPEM()), "CERTIFICATE REQUEST"},
	} {
		if status, msg := enroll(tok, tc.csr); status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want 400 %q", tc.name, status, msg, tc.want)
		}
	}
	if status, _ := enroll(tok, good); status != http.StatusOK {
		t.Fatalf("enroll after refusals: %d", status)
	}
	// Single use.
	if status, msg := enroll(tok, good); status != http.StatusUnauthorized || msg != bad {
		t.Errorf("reused token: %d %q", status, msg)
	}
	if status, msg := enroll("nxe_made-up", good); status != http.StatusUnauthorized || msg != bad {
		t.Errorf("unknown token: %d %q", status, msg)
	}
	// Expired.
	tok2 := e.token(nil)
	e.clock.Advance(time.Hour + time.Second)
	if status, msg := enroll(tok2, good); status != http.StatusUnauthorized || msg != bad {
		t.Errorf("expired token: %d %q", status, msg)
	}

	// Strict bodies: unknown fields, trailing data, huge bodies.
	for _, tc := range []struct {
		name string
		body any
		want string
	}{
		{"unknown field", `{"token":"x","csr":"y","hostname":"h","admin":true}`, "unknown field"},
		{"two objects", `{"token":"x"}{"token":"y"}`, "single JSON value"},
		{"huge", `{"token":"` + strings.Repeat("a", 70<<10) + `"}`, "larger than"},
		{"empty hostname", ops.EnrollRequest{Token: "x", CSR: good}, "hostname"},
	} {
		status, body, err := e.enrollRaw(tc.body, e.ca.Fingerprint())
		if err != nil || status != http.StatusBadRequest || !strings.Contains(errMessage(body), tc.want) {
			t.Errorf("%s: %d %s %v", tc.name, status, body, err)
		}
	}

	// A wrong fingerprint stops the agent before it sends its token.
	tok3 := e.token(nil)
	_, _, err := e.enrollRaw(ops.EnrollRequest{Token: tok3, CSR: good, Hostname: "h"}, strings.Repeat("0", 64))
	if err == nil || !strings.Contains(err.Error(), "pinned CA") {
		t.Errorf("wrong fingerprint: %v", err)
	}
	if et, _ := e.db.EnrollmentTokenByHash(context.Background(), app.HashEnrollmentToken(tok3)); !et.UsedAt.IsZero() {
		t.Error("token used despite the wrong fingerprint")
	}
}

func TestMutualTLSRefusals(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := e.enroll(0)

	// No client certificate: enrollment only.
	plain := httpClient(&tls.Config{RootCAs: e.ca.Pool()})
	for _, p := range []struct{ method, path string }{
		{"GET", ops.PathWork}, {"POST", ops.PathHeartbeat}, {"POST", ops.PathResults}, {"POST", ops.PathRenew},
	} {
		status, body, err := doWith(t, plain, p.method, e.srv.URL+p.path, map[string]any{})
		if err != nil || status != http.StatusUnauthorized || !strings.Contains(errMessage(body), "client certificate") {
			t.Errorf("%s %s without certificate: %d %s %v", p.method, p.path, status, body, err)
		}
	}
	// Bad query and bodies with a good certificate.
	if status, _, _ := a.do("GET", ops.PathWork+"?wait=31", nil); status != http.StatusBadRequest {
		t.Errorf("wait=31: %d", status)
	}
	if status, body, _ := a.do("POST", ops.PathHeartbeat, map[string]any{"facts": map[string]any{"color": "red"}}); status != http.StatusBadRequest {
		t.Errorf("unknown heartbeat field: %d %s", status, body)
	}
	if status, _, _ := a.do("POST", ops.PathResults, []ops.Result{{ID: ""}}); status != http.StatusBadRequest {
		t.Errorf("result without id: %d", status)
	}
	if status, body, _ := a.do("POST", ops.PathRenew, ops.RenewRequest{CSR: csrPEM(t, mustEC(t))}); status != http.StatusBadRequest ||
		!strings.Contains(errMessage(body), "RSA-2048") {
		t.Errorf("renew with ECDSA: %d %s", status, body)
	}

	// A certificate of another CA, even naming this agent, fails the handshake.
	v, _ := vault.New([]byte("another-secret-0123456789abcdef0123456"), nil)
	other, err := pki.LoadOrCreateCA(t.Context(), storetest.MustOpenSQLite(t), v, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	der, _, _, err := other.Issue(csrDER(t, a.key), a.id, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := doWith(t, clientFor(t, a, der), "POST", e.srv.URL+ops.PathHeartbeat, ops.Heartbeat{}); err == nil {
		t.Error("certificate from another CA accepted")
	} else {
		t.Logf("other CA: %v", err)
	}
	// An expired certificate of our CA fails the handshake too.
	der, _, _, err = e.ca.Issue(csrDER(t, a.key), a.id, time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := doWith(t, clientFor(t, a, der), "POST", e.srv.URL+ops.PathHeartbeat, ops.Heartbeat{}); err == nil {
		t.Error("expired certificate accepted")
	} else {
		t.Logf("expired: %v", err)
	}
	// A valid certificate of our CA that is not the agent's recorded one.
	der, _, _, err = e.ca.Issue(csrDER(t, a.key), a.id, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	status, body, err := doWith(t, clientFor(t, a, der), "POST", e.srv.URL+ops.PathHeartbeat, ops.Heartbeat{})
	if err != nil || status != http.StatusUnauthorized {
		t.Errorf("unrecorded certificate: %d %s %v", status, body, err)
	}
	// The agent's own certificate still works.
	a.mustDo("POST", ops.PathHeartbeat, ops.Heartbeat{}, http.StatusNoContent)
}

func mustEC(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrDER(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	block, _ := pem.Decode([]byte(csrPEM(t, key)))
	return block.Bytes
}

func clientFor(t *testing.T, a *agent, certDER []byte) *http.Client {
	t.Helper()
	return mtlsClient(t, a.caPEM, tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: a.key})
}
