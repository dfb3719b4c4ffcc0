package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// swallowProxy relays LDAP (in clear) to slapd. Armed for a response type,
// it either drops the next such response and holds that connection silent
// (the directory applied the write, and the server that asked never learns
// it did), or holds it until released (the write is in flight for as long
// as a test needs).
type swallowProxy struct {
	addr string
	mu   sync.Mutex
	plan *proxyPlan
}

// proxyPlan is what the proxy does with the next response of one type.
type proxyPlan struct {
	tag     byte          // the protocolOp tag, e.g. ldapModifyResponse
	pass    int           // responses of tag let through before the one acted on
	hold    bool          // hold until release instead of dropping
	hit     chan struct{} // closed when the response arrived
	release chan struct{} // close to let a held response through
}

// LDAP protocolOp tags of the responses the tests intercept.
const (
	ldapModifyResponse byte = 0x67
	ldapAddResponse    byte = 0x69
)

// arm makes the proxy drop (hold false) or hold the next response of tag.
func (p *swallowProxy) arm(tag byte, hold bool) *proxyPlan {
	return p.armAfter(tag, 0, hold)
}

// armAfter is arm for the response of tag after pass others.
func (p *swallowProxy) armAfter(tag byte, pass int, hold bool) *proxyPlan {
	pl := &proxyPlan{tag: tag, pass: pass, hold: hold, hit: make(chan struct{}), release: make(chan struct{})}
	p.mu.Lock()
	p.plan = pl
	p.mu.Unlock()
	return pl
}

func (p *swallowProxy) take(op byte) *proxyPlan {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.plan == nil || p.plan.tag != op {
		return nil
	}
	if p.plan.pass > 0 {
		p.plan.pass--
		return nil
	}
	pl := p.plan
	p.plan = nil
	return pl
}

func startSwallowProxy(t *testing.T, target string) *swallowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &swallowProxy{addr: ln.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); conns.Wait() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				_ = client.Close()
				continue
			}
			conns.Add(2)
			go func() { defer conns.Done(); _, _ = io.Copy(server, client); _ = server.Close() }()
			go func() { defer conns.Done(); p.relay(client, server); _ = client.Close() }()
		}
	}()
	return p
}

// relay copies LDAP messages from server to client, one at a time.
func (p *swallowProxy) relay(client, server net.Conn) {
	for {
		msg, op, err := readLDAPMessage(server)
		if err != nil {
			return
		}
		if pl := p.take(op); pl != nil {
			close(pl.hit)
			if !pl.hold {
				_, _ = io.Copy(io.Discard, server) // silent until the client's side closes
				return
			}
			<-pl.release
		}
		if _, err := client.Write(msg); err != nil {
			return
		}
	}
}

// readLDAPMessage reads one BER-encoded LDAPMessage (SEQUENCE { messageID
// INTEGER, protocolOp [APPLICATION n] ... }) and returns its bytes and the
// protocolOp's tag.
func readLDAPMessage(r io.Reader) ([]byte, byte, error) {
	head := make([]byte, 2)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, 0, err
	}
	n := int(head[1])
	if n&0x80 != 0 {
		ext := make([]byte, n&0x7f)
		if _, err := io.ReadFull(r, ext); err != nil {
			return nil, 0, err
		}
		head = append(head, ext...)
		n = 0
		for _, b := range ext {
			n = n<<8 | int(b)
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, 0, err
	}
	var op byte
	if len(body) >= 2 && body[0] == 0x02 && len(body) > 2+int(body[1]) {
		op = body[2+int(body[1])]
	}
	return append(head, body...), op, nil
}

// TestKillAfterTheDirectoryWroteThenResumeReconciles kills the server
// process after slapd applied an operation's write and before the server
// heard back and restarts it; the restarted server takes the request back
// once the dead worker's lease expires: the operation is found applied and
// recorded as reconciled (not run again), the next one runs, the request
// succeeds and the audit log verifies.
func TestKillAfterTheDirectoryWroteThenResumeReconciles(t *testing.T) {
	dir := ldaptest.Start(t)
	proxy := startSwallowProxy(t, strings.TrimPrefix(dir.URL, "ldap://"))
	c := newCLI(t)
	c.env["NEXPLANE_LEASE_TTL"] = "2s"
	for _, u := range []struct{ email, role string }{{"admin@example.com", "admin"}, {"op@example.com", "operator"}, {"appr@example.com", "approver"}} {
		if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", u.email, "--role", u.role, "--password-stdin"); code != 0 {
			t.Fatal(stderr)
		}
	}
	srvA := startServerProc(t, c)
	admin, op, appr := login(t, srvA.base, "admin@example.com"), login(t, srvA.base, "op@example.com"), login(t, srvA.base, "appr@example.com")

	var cfg, creds map[string]any
	_ = json.Unmarshal(dir.ConfigJSON(), &cfg)
	_ = json.Unmarshal(dir.CredentialsJSON(), &creds)
	cfg["url"], cfg["insecure_no_tls"] = "ldap://"+proxy.addr, true
	delete(cfg, "ca_pem")
	st, conn := admin.do("POST", "/api/v1/connectors", map[string]any{"name": "dir", "type": "ldap", "config": cfg, "credentials": creds})
	if st != 201 {
		t.Fatalf("connector: %d %v", st, conn)
	}
	st, cr := op.do("POST", "/api/v1/change-requests", map[string]any{"title": "lock bob", "connector_id": conn["id"], "operations": []map[string]any{
		{"type": "ldap.user.disable", "params": map[string]string{"uid": "bob"}},
		{"type": "ldap.group.add_member", "params": map[string]string{"group": "admins", "uid": "bob"}},
	}})
	if st != 201 {
		t.Fatalf("create: %d %v", st, cr)
	}
	path := fmt.Sprintf("/api/v1/change-requests/%v", cr["id"])
	drop := proxy.arm(ldapModifyResponse, false)
	for _, step := range []struct {
		who    *apiClient
		action string
	}{{op, "submit"}, {appr, "approve"}, {op, "execute"}} {
		if st, body := step.who.do("POST", path+"/"+step.action, stepBody(step.action)); st != 200 {
			t.Fatalf("%s: %d %v", step.action, st, body)
		}
	}
	select {
	case <-drop.hit:
	case <-time.After(60 * time.Second):
		t.Fatal("the disable's write never reached the directory")
	}
	srvA.kill()
	locked := func() bool {
		res, err := dir.Admin(t).Search(ldap.NewSearchRequest("uid=bob,"+dir.UserBase, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false,
			"(pwdAccountLockedTime=*)", []string{"dn"}, nil))
		return err == nil && len(res.Entries) == 1
	}
	if !locked() {
		t.Fatal("the directory did not apply the disable before the kill")
	}

	srvB := startServerProc(t, c)
	op.base, admin.base = srvB.base, srvB.base
	waitStatus := func(want string) map[string]any {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_, cur := op.do("GET", path, nil)
			if cur["status"] == want {
				return cur
			}
			if cur["status"] != "executing" || time.Now().After(deadline) {
				t.Fatalf("request is %v, want %s: %v", cur["status"], want, cur)
			}
		}
	}
	final := waitStatus("succeeded") // taken back when the lease expired: nobody resumes
	if cause, _ := final["interrupt_cause"].(string); !strings.Contains(cause, "lost its lease") {
		t.Errorf("interrupt_cause %q, want the lost lease", cause)
	}
	ops := final["operations"].([]any)
	first, second := ops[0].(map[string]any), ops[1].(map[string]any)
	if res, _ := first["result"].(map[string]any); res["reconciled"] != true {
		t.Errorf("disable's result %v, want reconciled", first["result"])
	}
	if second["status"] != "succeeded" {
		t.Errorf("add_member %v", second)
	}
	count := func(ev string) int {
		_, a := admin.do("GET", fmt.Sprintf("/api/v1/audit?resource_type=change_request&resource_id=%v&event=%s", cr["id"], ev), nil)
		return len(a["events"].([]any))
	}
	if r, s, f := count("change.operation_reconciled"), count("change.operation_succeeded"), count("change.operation_failed"); r != 1 || s != 1 || f != 0 {
		t.Errorf("audit: %d reconciled, %d succeeded, %d failed; want 1, 1, 0", r, s, f)
	}
	if !locked() {
		t.Error("bob is not locked")
	}
	srvB.kill()
	if code, out, stderr := c.run("", "audit", "verify"); code != 0 {
		t.Errorf("audit verify: %d %s %s", code, out, stderr)
	}
}
