package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/store/storetest"
)

// term asks the server to stop, as systemctl stop or restart does.
func (p *serverProc) term() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
}

// exited reports whether the process has ended.
func (p *serverProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// execRig is a directory behind an intercepting proxy, a connector to it
// through the proxy, and the three people a change request needs, on one
// database (SQLite in the CLI's data directory, or a fresh PostgreSQL one).
type execRig struct {
	t              *testing.T
	dir            *ldaptest.Server
	proxy          *swallowProxy
	c              *cli
	admin, op, apr *apiClient
	connID         any
}

func newExecRig(t *testing.T, driver string, env map[string]string) (*execRig, *serverProc) {
	t.Helper()
	if driver == "postgres" && os.Getenv(storetest.EnvTestPostgresURL) == "" {
		requireIntegration(t, storetest.EnvTestPostgresURL+" is not set")
	}
	r := &execRig{t: t, dir: ldaptest.Start(t), c: newCLI(t)}
	r.proxy = startSwallowProxy(t, strings.TrimPrefix(r.dir.URL, "ldap://"))
	if driver == "postgres" {
		r.c.env["DATABASE_URL"] = storetest.MustPostgresURL(t, os.Getenv(storetest.EnvTestPostgresURL))
	}
	for k, v := range env {
		r.c.env[k] = v
	}
	for _, u := range []struct{ email, role string }{{"admin@example.com", "admin"}, {"op@example.com", "operator"}, {"appr@example.com", "approver"}} {
		if code, _, stderr := r.c.run("a long enough password\n", "user", "create", "--email", u.email, "--role", u.role, "--password-stdin"); code != 0 {
			t.Fatal(stderr)
		}
	}
	srv := startServerProc(t, r.c)
	// Tokens outlive a restart: the signing key is in the database.
	r.admin, r.op, r.apr = login(t, srv.base, "admin@example.com"), login(t, srv.base, "op@example.com"), login(t, srv.base, "appr@example.com")
	var cfg, creds map[string]any
	_ = json.Unmarshal(r.dir.ConfigJSON(), &cfg)
	_ = json.Unmarshal(r.dir.CredentialsJSON(), &creds)
	cfg["url"], cfg["insecure_no_tls"] = "ldap://"+r.proxy.addr, true
	delete(cfg, "ca_pem")
	st, conn := r.admin.do("POST", "/api/v1/connectors", map[string]any{"name": "dir", "type": "ldap", "config": cfg, "credentials": creds})
	if st != 201 {
		t.Fatalf("connector: %d %v", st, conn)
	}
	r.connID = conn["id"]
	return r, srv
}

// at points every client at srv.
func (r *execRig) at(srv *serverProc) {
	r.admin.base, r.op.base, r.apr.base = srv.base, srv.base, srv.base
}

// execute creates, submits, approves and executes a request; it returns
// the request's API path.
func (r *execRig) execute(title string, ops ...map[string]any) string {
	r.t.Helper()
	st, cr := r.op.do("POST", "/api/v1/change-requests", map[string]any{"title": title, "connector_id": r.connID, "operations": ops})
	if st != 201 {
		r.t.Fatalf("create: %d %v", st, cr)
	}
	path := fmt.Sprintf("/api/v1/change-requests/%v", cr["id"])
	for _, step := range []struct {
		who    *apiClient
		action string
	}{{r.op, "submit"}, {r.apr, "approve"}, {r.op, "execute"}} {
		if st, body := step.who.do("POST", path+"/"+step.action, stepBody(step.action)); st != 200 {
			r.t.Fatalf("%s: %d %v", step.action, st, body)
		}
	}
	return path
}

// waitDone waits until the request leaves executing and wants succeeded.
func (r *execRig) waitDone(path string) map[string]any {
	r.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, cur := r.op.do("GET", path, nil)
		if cur["status"] == "succeeded" {
			return cur
		}
		if cur["status"] != "executing" || time.Now().After(deadline) {
			r.t.Fatalf("%s is %v (%v), want succeeded: %v", path, cur["status"], cur["interrupt_cause"], cur["operations"])
		}
	}
}

func (r *execRig) auditCount(path, event string) int {
	r.t.Helper()
	id := path[strings.LastIndex(path, "/")+1:]
	_, a := r.admin.do("GET", fmt.Sprintf("/api/v1/audit?limit=500&resource_type=change_request&resource_id=%s&event=%s", id, event), nil)
	evs, _ := a["events"].([]any)
	return len(evs)
}

// entry reads uid's entry as the directory's root sees it (nil: absent).
func (r *execRig) entry(uid string, attrs ...string) *ldap.Entry {
	r.t.Helper()
	res, err := r.dir.Admin(r.t).Search(ldap.NewSearchRequest(r.dir.UserBase, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		fmt.Sprintf("(uid=%s)", ldap.EscapeFilter(uid)), attrs, nil))
	if err != nil {
		r.t.Fatal(err)
	}
	if len(res.Entries) == 0 {
		return nil
	}
	return res.Entries[0]
}

func (r *execRig) isAdmin(uid string) bool {
	r.t.Helper()
	res, err := r.dir.Admin(r.t).Search(ldap.NewSearchRequest(r.dir.GroupBase, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(cn=admins)", []string{"member"}, nil))
	if err != nil || len(res.Entries) != 1 {
		r.t.Fatalf("admins group: %v", err)
	}
	for _, m := range res.Entries[0].GetAttributeValues("member") {
		if strings.HasPrefix(strings.ToLower(m), "uid="+uid+",") {
			return true
		}
	}
	return false
}

func (r *execRig) verifyAudit() {
	r.t.Helper()
	if code, out, stderr := r.c.run("", "audit", "verify"); code != 0 {
		r.t.Errorf("audit verify: %d %s %s", code, out, stderr)
	}
}

// drivers are the databases the execution tests run on; newExecRig skips
// (or, when integration is required, fails) PostgreSQL without a server.
func drivers(*testing.T) []string { return []string{"sqlite", "postgres"} }

// createThenToggle creates uid as an admin, then locks bob (lock) or
// unlocks him.
func createThenToggle(uid string, lock bool) []map[string]any {
	toggle := "ldap.user.enable"
	if lock {
		toggle = "ldap.user.disable"
	}
	return []map[string]any{
		{"type": "ldap.user.create", "params": map[string]any{"uid": uid, "cn": "User " + uid, "sn": "Test", "mail": uid + "@example.org",
			"groups": []string{"devs", "admins"}}},
		{"type": toggle, "params": map[string]string{"uid": "bob"}},
	}
}

// bobLocked reads whether the directory holds bob locked.
func (r *execRig) bobLocked() bool {
	r.t.Helper()
	e := r.entry("bob", "pwdAccountLockedTime")
	return e != nil && e.GetAttributeValue("pwdAccountLockedTime") != ""
}

// TestSIGTERMFinishesTheOperationInFlight stops the server (SIGTERM, as
// systemctl does) while the directory holds an operation's answer. The
// server keeps running, answers /readyz with 503, records the operation
// when the answer comes, starts nothing more and exits; the next server (a
// restart on SQLite, the other server already running on PostgreSQL)
// continues the request at once — the lease is an hour, so nothing waited
// for it to expire — and nobody resumes anything.
func TestSIGTERMFinishesTheOperationInFlight(t *testing.T) {
	for _, driver := range drivers(t) {
		t.Run(driver, func(t *testing.T) {
			r, srvA := newExecRig(t, driver, map[string]string{"NEXPLANE_LEASE_TTL": "1h"})
			hold := r.proxy.arm(ldapAddResponse, true)
			path := r.execute("carol in, bob out", createThenToggle("carol", true)...)
			select {
			case <-hold.hit:
			case <-time.After(60 * time.Second):
				t.Fatal("the create never reached the directory")
			}
			var srvB *serverProc
			if driver == "postgres" {
				srvB = startServerProc(t, r.c) // a second server on the same database
			}
			srvA.term()
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				st, body := r.op.do("GET", "/readyz", nil)
				if st == 503 {
					break
				}
				if srvA.exited() || time.Now().After(deadline) {
					t.Fatalf("the server did not drain: exited %v, readyz %d %v\n%s", srvA.exited(), st, body, srvA.logs.String())
				}
			}
			time.Sleep(100 * time.Millisecond) // give a wrong implementation the time to exit early
			if srvA.exited() {
				t.Fatalf("the server exited with an operation in flight:\n%s", srvA.logs.String())
			}
			close(hold.release)
			select {
			case <-srvA.done:
			case <-time.After(60 * time.Second):
				t.Fatal("the server did not exit after the operation finished")
			}
			if code := srvA.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit status %d after SIGTERM, want 0", code)
			}
			if srvB == nil {
				srvB = startServerProc(t, r.c)
			}
			r.at(srvB)
			final := r.waitDone(path)
			ops := final["operations"].([]any)
			if res, _ := ops[0].(map[string]any)["result"].(map[string]any); res["reconciled"] == true {
				t.Errorf("the create was reconciled: its result was lost at shutdown (%v)", res)
			}
			for ev, want := range map[string]int{"change.operation_succeeded": 2, "change.operation_started": 2,
				"change.requeued": 1, "change.interrupted": 0, "change.resumed": 0} {
				if n := r.auditCount(path, ev); n != want {
					t.Errorf("%d %s records, want %d", n, ev, want)
				}
			}
			if e := r.entry("carol", "mail"); e == nil || !r.isAdmin("carol") || !r.bobLocked() {
				t.Errorf("carol: entry %v, admin %v; bob locked %v", e, r.isAdmin("carol"), r.bobLocked())
			}
			if !strings.Contains(srvA.logs.String(), "engine: drain") {
				t.Errorf("no drain in the stopped server's log:\n%s", srvA.logs.String())
			}
			srvB.term()
			<-srvB.done
			r.verifyAudit()
		})
	}
}

// killLoops is how many times TestKillsAfterTheTargetWrote kills a server.
const killLoops = 50

// TestKillsAfterTheTargetWrote kills the server (SIGKILL) fifty times, each
// time after the directory applied a user's creation and before the server
// heard back, and restarts it. Each time the restarted server takes the
// request back when the dead worker's lease expires, finds the user
// already created (reconciled, not "uid already exists"), runs the next
// operation (bob locked or unlocked in turn), and the request succeeds: no request ends failed or waits for a person, and
// the audit log verifies.
func TestKillsAfterTheTargetWrote(t *testing.T) {
	for _, driver := range drivers(t) {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			r, srv := newExecRig(t, driver, map[string]string{"NEXPLANE_LEASE_TTL": "1s"})
			for i := range killLoops {
				uid := fmt.Sprintf("k%02d", i)
				// The create's last write: it adds the entry, sets its
				// password, then joins devs and admins; the answer to the
				// second join never comes back.
				drop := r.proxy.armAfter(ldapModifyResponse, 1, false)
				lock := i%2 == 0
				path := r.execute("create "+uid, createThenToggle(uid, lock)...)
				select {
				case <-drop.hit:
				case <-time.After(60 * time.Second):
					t.Fatalf("kill %d: the create never reached the directory", i)
				}
				srv.kill()
				if r.entry(uid) == nil || !r.isAdmin(uid) {
					t.Fatalf("kill %d: the directory did not finish creating %s before the kill", i, uid)
				}
				srv = startServerProc(t, r.c)
				r.at(srv)
				final := r.waitDone(path)
				ops := final["operations"].([]any)
				if res, _ := ops[0].(map[string]any)["result"].(map[string]any); res["reconciled"] != true {
					t.Errorf("kill %d: create result %v, want reconciled", i, res)
				}
				if e := r.entry(uid, "mail"); e == nil || e.GetAttributeValue("mail") != uid+"@example.org" || !r.isAdmin(uid) || r.bobLocked() != lock {
					t.Errorf("kill %d: not in the requested state: %s entry %v, admin %v; bob locked %v, want %v", i, uid, e, r.isAdmin(uid), r.bobLocked(), lock)
				}
			}
			st, list := r.op.do("GET", "/api/v1/change-requests?limit=100", nil)
			items, _ := list["change_requests"].([]any)
			if st != 200 || len(items) != killLoops {
				t.Fatalf("list: %d, %d requests, want %d", st, len(items), killLoops)
			}
			for _, it := range items {
				if s := it.(map[string]any)["status"]; s != "succeeded" {
					t.Errorf("request %v is %v", it.(map[string]any)["id"], s)
				}
			}
			srv.kill()
			r.verifyAudit()
		})
	}
}

// TestTwoServersOneKilled runs two servers on one PostgreSQL and kills the
// one executing a request after the directory applied the create's last
// write: the other server, running all along, takes the request back when
// the dead one's lease expires, reconciles the create and finishes.
func TestTwoServersOneKilled(t *testing.T) {
	r, srvA := newExecRig(t, "postgres", map[string]string{"NEXPLANE_LEASE_TTL": "1s"})
	drop := r.proxy.armAfter(ldapModifyResponse, 1, false)
	path := r.execute("dave in, bob out", createThenToggle("dave", true)...)
	select {
	case <-drop.hit: // A holds the request: B is not running yet
	case <-time.After(60 * time.Second):
		t.Fatal("the create never reached the directory")
	}
	srvB := startServerProc(t, r.c)
	srvA.kill()
	r.at(srvB)
	final := r.waitDone(path)
	ops := final["operations"].([]any)
	if res, _ := ops[0].(map[string]any)["result"].(map[string]any); res["reconciled"] != true {
		t.Errorf("create result %v, want reconciled", res)
	}
	if cause, _ := final["interrupt_cause"].(string); !strings.Contains(cause, "lost its lease") {
		t.Errorf("interrupt_cause %q, want the lost lease", cause)
	}
	if !r.isAdmin("dave") || !r.bobLocked() {
		t.Errorf("dave admin %v, bob locked %v", r.isAdmin("dave"), r.bobLocked())
	}
	srvB.kill()
	r.verifyAudit()
}
