package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// TestMain lets a test start this package's binary as a real server process
// (re-executing the test binary as `nexplane`), so it can be killed -9.
func TestMain(m *testing.M) {
	if os.Getenv("NEXPLANE_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"nexplane"}, strings.Fields(os.Getenv("NEXPLANE_TEST_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// serverProc is `nexplane serve` in its own process.
type serverProc struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
	logs *syncBuffer
}

func startServerProc(t *testing.T, c *cli) *serverProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NEXPLANE_TEST_RUN_MAIN=1", "NEXPLANE_TEST_ARGS=serve")
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "NEXPLANE_LISTEN=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, done: make(chan struct{}), logs: &syncBuffer{}}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.logs, line)
			if m := addrRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "listening") {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	select {
	case a := <-addr:
		p.base = "https://" + a
	case <-p.done:
		t.Fatalf("server exited: %s", p.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not listen: %s", p.logs.String())
	}
	return p
}

// kill ends the process at once, as a crash or power loss would.
func (p *serverProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// apiClient talks JSON to a server with a bearer token.
type apiClient struct {
	t     *testing.T
	base  string
	token string
	hc    *http.Client
}

func (a *apiClient) do(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func login(t *testing.T, base, email string) *apiClient {
	t.Helper()
	a := &apiClient{t: t, base: base, hc: insecureClient()}
	st, body := a.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": "a long enough password"})
	if st != 200 {
		t.Fatalf("login %s: %d %v", email, st, body)
	}
	a.token = body["token"].(string)
	return a
}

func opStatuses(body map[string]any) (statuses []string, started []any) {
	for _, o := range body["operations"].([]any) {
		m := o.(map[string]any)
		statuses = append(statuses, m["status"].(string))
		started = append(started, m["started_at"])
	}
	return statuses, started
}

// TestCrashDuringExecutionThenResume kills the server process mid-run (the
// directory hangs on the operation after the first ones finished), restarts
// it, and sees the restarted server take the request back when the dead
// worker's lease expires and finish it, without a person, no finished
// operation run twice.
func TestCrashDuringExecutionThenResume(t *testing.T) {
	dir := ldaptest.Start(t)
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
	st, conn := admin.do("POST", "/api/v1/connectors", map[string]any{"name": "dir", "type": "ldap", "config": cfg, "credentials": creds})
	if st != 201 {
		t.Fatalf("connector: %d %v", st, conn)
	}
	const nOps = 20
	var ops []map[string]any
	for i := 0; i < nOps; i++ {
		typ := "ldap.user.disable"
		if i%2 == 1 {
			typ = "ldap.user.enable"
		}
		ops = append(ops, map[string]any{"type": typ, "params": map[string]string{"uid": "bob"}})
	}
	st, cr := op.do("POST", "/api/v1/change-requests", map[string]any{"title": "toggle bob", "connector_id": conn["id"], "operations": ops})
	if st != 201 {
		t.Fatalf("create: %d %v", st, cr)
	}
	path := fmt.Sprintf("/api/v1/change-requests/%v", cr["id"])
	for _, step := range []struct {
		who    *apiClient
		action string
	}{{op, "submit"}, {appr, "approve"}, {op, "execute"}} {
		if st, body := step.who.do("POST", path+"/"+step.action, stepBody(step.action)); st != 200 {
			t.Fatalf("%s: %d %v", step.action, st, body)
		}
	}

	// Freeze the directory as soon as the first operation has finished: the
	// worker then hangs inside a later one, and we kill its process there.
	deadline := time.Now().Add(30 * time.Second)
	var before map[string]any
	for {
		_, before = op.do("GET", path, nil)
		statuses, _ := opStatuses(before)
		if statuses[0] == "succeeded" {
			if err := dir.Pause(); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first operation never finished: %v", before)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Kill the server once a later operation runs: its worker is inside, or
	// about to enter, a call the frozen directory will not answer.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		_, cur := op.do("GET", path, nil)
		if statuses, _ := opStatuses(cur); slices.Contains(statuses, "running") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no operation ran after the first: %v", cur)
		}
	}
	srvA.kill()
	if err := dir.Resume(); err != nil {
		t.Fatal(err)
	}

	// After a restart the dead worker's lease expires: interrupted, not re-run.
	srvB := startServerProc(t, c)
	op.base, appr.base = srvB.base, srvB.base
	// What the crash left is read only now: an operation the directory
	// answered just before it froze may have finished after it was seen
	// running.
	_, before = op.do("GET", path, nil)
	statusesBefore, startedBefore := opStatuses(before)
	done := 0
	for _, s := range statusesBefore {
		if s == "succeeded" {
			done++
		}
	}
	if (before["status"] != "executing" && before["status"] != "interrupted") || done == 0 || done == nOps {
		t.Fatalf("not killed mid-run: status %v, %d of %d operations done", before["status"], done, nOps)
	}
	t.Logf("killed the server with %d of %d operations done", done, nOps)

	deadline = time.Now().Add(30 * time.Second)
	var final map[string]any
	for {
		_, final = op.do("GET", path, nil)
		if final["status"] != "executing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request did not finish after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	statuses, started := opStatuses(final)
	if final["status"] != "succeeded" {
		t.Fatalf("after the restart: %v %v", final["status"], statuses)
	}
	for i := 0; i < done; i++ {
		if started[i] != startedBefore[i] {
			t.Errorf("operation %d ran again: started %v, before the crash %v", i, started[i], startedBefore[i])
		}
	}
	// The audit log holds exactly one success per operation: run, or
	// reconciled when the directory had applied the write the crash cut
	// off from its record.
	var n int
	for _, ev := range []string{"change.operation_succeeded", "change.operation_reconciled"} {
		_, audit := admin.withBase(srvB.base).do("GET", fmt.Sprintf("/api/v1/audit?limit=500&resource_type=change_request&resource_id=%v&event=%s", cr["id"], ev), nil)
		n += len(audit["events"].([]any))
	}
	if n != nOps {
		t.Errorf("%d operation_succeeded and operation_reconciled records, want %d", n, nOps)
	}
	for ev, want := range map[string]int{"change.requeued": 1, "change.succeeded": 1, "change.interrupted": 0, "change.resumed": 0} {
		_, a := admin.withBase(srvB.base).do("GET", fmt.Sprintf("/api/v1/audit?resource_type=change_request&resource_id=%v&event=%s", cr["id"], ev), nil)
		if n := len(a["events"].([]any)); n != want {
			t.Errorf("audit has %d %s records, want %d", n, ev, want)
		}
	}
	if err := dir.CanBind("uid=bob,"+dir.UserBase, dir.UserPasswords["bob"]); err != nil {
		t.Errorf("bob should end enabled (20 toggles): %v", err)
	}
}

func (a *apiClient) withBase(base string) *apiClient {
	b := *a
	b.base = base
	return &b
}

// stepBody is the body of a submit, approve or execute of a new request:
// an approval names the revision it approves (the first).
func stepBody(action string) map[string]any {
	if action == "approve" {
		return map[string]any{"revision": 1}
	}
	return map[string]any{}
}
