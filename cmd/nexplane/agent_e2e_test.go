package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var agentAddrRE = regexp.MustCompile(`msg="agent listener" addr=(\S+)`)

// buildAgent compiles cmd/nexplane-agent once per test into a temp dir.
func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nexplane-agent")
	cmd := exec.Command("go", "build", "-o", bin, "../nexplane-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, out)
	}
	return bin
}

// hostRoot is a minimal system root for the agent's --root: the real
// useradd/usermod/userdel act on it instead of this machine.
func hostRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		requireIntegration(t, "the agent's user tools need root, even with --root")
	}
	for _, tool := range []string{"useradd", "usermod", "userdel"} {
		if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
			requireIntegration(t, "/usr/sbin/"+tool+" not installed")
		}
	}
	root := t.TempDir()
	defs, err := os.ReadFile("/etc/login.defs")
	if err != nil {
		requireIntegration(t, "no /etc/login.defs to copy")
	}
	files := map[string]string{
		"etc/login.defs": string(defs),
		"etc/passwd":     "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n",
		"etc/group":      "root:x:0:\nusers:x:100:\nalice:x:1000:\ndev:x:1500:\n",
		"etc/shadow":     "root:*:19000:0:99999:7:::\nalice:$6$salt$hash:19000:0:99999:7:::\n",
		"etc/gshadow":    "root:*::\nusers:*::\nalice:!::\ndev:!::\n",
		"etc/os-release": "PRETTY_NAME=\"Nexplane Test Root\"\n",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "home/alice"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(root, "home/alice"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	return root
}

// requireIntegration skips loudly, or fails when NEXPLANE_REQUIRE_INTEGRATION=1.
func requireIntegration(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("NEXPLANE_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("integration component missing: %s", why)
	}
	t.Skipf("SKIP agent end-to-end test: %s", why)
}

// listeningSockets reports whether process pid has any listening TCP socket.
func listeningSockets(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var listening []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" && inodes[f[9]] { // 0A: LISTEN
				listening = append(listening, f[1])
			}
		}
	}
	return listening
}

// agentStack is a server process with one enrolled agent process running
// against a temporary system root.
type agentStack struct {
	srv               *serverProc
	admin, op, appr   *apiClient
	root, state       string
	agentBin          string
	agentID, hostname string
	agentProc         *exec.Cmd
}

func (s *agentStack) runAgent(args ...string) (string, error) {
	out, err := exec.Command(s.agentBin, args...).CombinedOutput()
	return string(out), err
}

// startAgentStack starts a server, enrolls the agent binary (checking that a
// wrong fingerprint and a reused token are refused) and runs it until the
// test ends.
func startAgentStack(t *testing.T, agentBin string) *agentStack {
	t.Helper()
	s := &agentStack{root: hostRoot(t), agentBin: agentBin, state: t.TempDir()}
	c := newCLI(t)
	createStackUsers(t, c)
	s.srv = startServerProc(t, c)
	s.login(t)
	s.enrollAndRun(t, s.srv)
	return s
}

// createStackUsers makes the admin, operator and approver the stack logs in as.
func createStackUsers(t *testing.T, c *cli) {
	t.Helper()
	for _, u := range []struct{ email, role string }{{"admin@example.com", "admin"}, {"op@example.com", "operator"}, {"appr@example.com", "approver"}} {
		if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", u.email, "--role", u.role, "--password-stdin"); code != 0 {
			t.Fatal(stderr)
		}
	}
}

// login makes the stack's API clients on s.srv.
func (s *agentStack) login(t *testing.T) {
	t.Helper()
	s.admin, s.op, s.appr = login(t, s.srv.base, "admin@example.com"), login(t, s.srv.base, "op@example.com"), login(t, s.srv.base, "appr@example.com")
}

// agentListenerAddr reads the agent listener's address from a server's logs.
func agentListenerAddr(t *testing.T, srv *serverProc) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := agentAddrRE.FindStringSubmatch(srv.logs.String()); m != nil {
			return m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no agent listener in the logs:\n%s", srv.logs.String())
		}
	}
}

// enrollAndRun enrolls the agent with a token made through s.srv's API at
// the agent listener of agentSrv, runs it there until the test ends and
// waits until it is online.
func (s *agentStack) enrollAndRun(t *testing.T, agentSrv *serverProc) {
	t.Helper()
	agentAddr := agentListenerAddr(t, agentSrv)
	st, tok := s.admin.do("POST", "/api/v1/agents/enrollment-tokens", map[string]any{"labels": map[string]string{"env": "test"}, "ttl": "1h"})
	if st != http.StatusCreated {
		t.Fatalf("enrollment token: %d %v", st, tok)
	}
	cmdline := tok["command"].(string)
	fp := regexp.MustCompile(`--ca-sha256 ([0-9a-f]{64})`).FindStringSubmatch(cmdline)
	if fp == nil || !strings.Contains(cmdline, tok["token"].(string)) {
		t.Fatalf("command: %q", cmdline)
	}
	serverURL := "https://" + agentAddr
	// A wrong CA fingerprint is refused before the token is sent.
	wrong := strings.Repeat("0", 64)
	if out, err := s.runAgent("enroll", "--server", serverURL, "--token", tok["token"].(string), "--ca-sha256", wrong, "--state-dir", t.TempDir()); err == nil {
		t.Fatalf("enrollment with a wrong fingerprint succeeded: %s", out)
	}
	if out, err := s.runAgent("enroll", "--server", serverURL, "--token", tok["token"].(string), "--ca-sha256", fp[1], "--state-dir", s.state); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}
	if st, err := os.Stat(filepath.Join(s.state, "key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v %v", st, err)
	}
	// The token is single-use.
	if out, err := s.runAgent("enroll", "--server", serverURL, "--token", tok["token"].(string), "--ca-sha256", fp[1], "--state-dir", t.TempDir()); err == nil {
		t.Fatalf("second enrollment with one token succeeded: %s", out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	policy := filepath.Join(t.TempDir(), "agent.conf")
	if err := os.WriteFile(policy, []byte("# this test host accepts every operation type\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.agentProc = exec.CommandContext(ctx, s.agentBin, "run", "--state-dir", s.state, "--root", s.root, "--config", policy)
	agentLogs := &syncBuffer{}
	s.agentProc.Stdout, s.agentProc.Stderr = agentLogs, agentLogs
	if err := s.agentProc.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = s.agentProc.Wait() })

	for deadline := time.Now().Add(30 * time.Second); ; {
		_, list := s.admin.do("GET", "/api/v1/agents", nil)
		if as, _ := list["agents"].([]any); len(as) == 1 {
			a := as[0].(map[string]any)
			if a["status"] == "online" {
				s.agentID, s.hostname = a["id"].(string), a["hostname"].(string)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent never came online: %v\nagent: %s", list, agentLogs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAgentEndToEnd enrolls the real agent binary against a real server
// process, then runs host operations through reviewed change requests on a
// temporary system root, and revokes the agent.
func TestAgentEndToEnd(t *testing.T) {
	s := startAgentStack(t, buildAgent(t))
	if l := listeningSockets(t, s.agentProc.Process.Pid); len(l) != 0 {
		t.Errorf("the agent listens on %v; it must only dial out", l)
	}
	t.Run("host operations through change requests", func(t *testing.T) {
		testHostOperations(t, s.admin, s.op, s.appr, s.root, s.hostname)
	})
	t.Run("console shows the host's users changing", func(t *testing.T) {
		testConsoleHostUsers(t, s)
	})

	// Revocation: the agent is refused and shown as revoked.
	if st, body := s.admin.do("POST", "/api/v1/agents/"+s.agentID+"/revoke", map[string]string{}); st != 200 {
		t.Fatalf("revoke: %d %v", st, body)
	}
	_, a := s.admin.do("GET", "/api/v1/agents/"+s.agentID, nil)
	if a["status"] != "revoked" {
		t.Errorf("after revoke: %v", a)
	}
	out, err := s.runAgent("status", "--state-dir", s.state)
	if err == nil || !strings.Contains(strings.ToLower(out), "revoked") && !strings.Contains(out, "401") && !strings.Contains(strings.ToLower(out), "refused") {
		t.Errorf("status of a revoked agent: %v %s", err, out)
	}
}

// testHostOperations runs every host operation through a reviewed change
// request and checks the files of the agent's system root afterwards.
func testHostOperations(t *testing.T, admin, op, appr *apiClient, root, hostname string) {
	st, conn := admin.do("POST", "/api/v1/connectors", map[string]any{"name": "hosts", "type": "agents",
		"config": map[string]any{"labels": map[string]string{"env": "test"}, "timeout": "30s"}})
	if st != http.StatusCreated {
		t.Fatalf("agents connector: %d %v", st, conn)
	}
	run := func(typ string, params map[string]any) map[string]any {
		t.Helper()
		params["host"] = hostname
		st, cr := op.do("POST", "/api/v1/change-requests", map[string]any{"title": typ, "connector_id": conn["id"],
			"operations": []any{map[string]any{"type": typ, "params": params}}})
		if st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", typ, st, cr)
		}
		path := fmt.Sprintf("/api/v1/change-requests/%v", cr["id"])
		for _, step := range []struct {
			who    *apiClient
			action string
		}{{op, "submit"}, {appr, "approve"}, {op, "execute"}} {
			if st, body := step.who.do("POST", path+"/"+step.action, stepBody(step.action)); st != 200 {
				t.Fatalf("%s %s: %d %v", typ, step.action, st, body)
			}
		}
		for deadline := time.Now().Add(60 * time.Second); ; {
			_, body := op.do("GET", path, nil)
			if body["status"] != "executing" {
				if body["status"] != "succeeded" {
					t.Fatalf("%s: %v", typ, body)
				}
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still executing", typ)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return ""
		}
		return string(b)
	}
	shadowOf := func(user string) string {
		for _, l := range strings.Split(read("etc/shadow"), "\n") {
			if strings.HasPrefix(l, user+":") {
				return l
			}
		}
		return ""
	}

	run("host.user.create", map[string]any{"name": "bob", "groups": []string{"dev"}, "shell": "/bin/bash", "comment": "Bob"})
	if !strings.Contains(read("etc/passwd"), "bob:") || !strings.Contains(read("etc/group"), "dev:x:1500:bob") {
		t.Fatalf("bob not created:\n%s\n%s", read("etc/passwd"), read("etc/group"))
	}
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIrMkWDNhI6mWsW3UqbCpBd0jqnyZu0UH2W5xF0m6qv4 bob@laptop"
	run("host.ssh_key.add", map[string]any{"user": "bob", "public_key": key})
	ak := filepath.Join(root, "home/bob/.ssh/authorized_keys")
	if st, err := os.Stat(ak); err != nil || st.Mode().Perm() != 0o600 || !strings.Contains(read("home/bob/.ssh/authorized_keys"), "AAAAC3NzaC1lZDI1NTE5AAAAIIrMkWDNhI6mWsW3UqbCpBd0jqnyZu0UH2W5xF0m6qv4") {
		t.Fatalf("authorized_keys: %v %v %q", st, err, read("home/bob/.ssh/authorized_keys"))
	}
	// The next heartbeat carries the key's fingerprint; remove it by that.
	var fingerprint string
	for deadline := time.Now().Add(40 * time.Second); fingerprint == ""; {
		_, agentsList := admin.do("GET", "/api/v1/agents", nil)
		id := agentsList["agents"].([]any)[0].(map[string]any)["id"]
		_, a := admin.do("GET", fmt.Sprintf("/api/v1/agents/%v", id), nil)
		users, _ := a["users"].([]any)
		for _, u := range users {
			m := u.(map[string]any)
			if m["name"] != "bob" {
				continue
			}
			for _, k := range m["ssh_keys"].([]any) {
				fingerprint = k.(map[string]any)["fingerprint"].(string)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat reported bob's key")
		}
		time.Sleep(200 * time.Millisecond)
	}
	run("host.user.lock", map[string]any{"name": "alice"})
	if !strings.HasPrefix(strings.SplitN(shadowOf("alice"), ":", 3)[1], "!") {
		t.Errorf("alice not locked: %s", shadowOf("alice"))
	}
	run("host.user.unlock", map[string]any{"name": "alice"})
	if strings.HasPrefix(strings.SplitN(shadowOf("alice"), ":", 3)[1], "!") {
		t.Errorf("alice still locked: %s", shadowOf("alice"))
	}
	run("host.ssh_key.remove", map[string]any{"user": "bob", "fingerprint": fingerprint})
	if strings.Contains(read("home/bob/.ssh/authorized_keys"), "AAAAC3Nz") {
		t.Errorf("key still present: %q", read("home/bob/.ssh/authorized_keys"))
	}
	run("host.facts.refresh", map[string]any{})
	run("host.user.delete", map[string]any{"name": "bob", "remove_home": true})
	if strings.Contains(read("etc/passwd"), "bob:") {
		t.Errorf("bob still in passwd")
	}
	if _, err := os.Stat(filepath.Join(root, "home/bob")); !os.IsNotExist(err) {
		t.Errorf("bob's home still there: %v", err)
	}

	// Bad input is refused at creation, before anything reaches the host.
	for _, params := range []map[string]any{
		{"name": "../x", "shell": "/bin/bash"},
		{"name": "root", "shell": "/bin/bash"},
		{"name": "carol", "shell": "/bin/evil"},
	} {
		params["host"] = hostname
		st, body := op.do("POST", "/api/v1/change-requests", map[string]any{"title": "bad", "connector_id": conn["id"],
			"operations": []any{map[string]any{"type": "host.user.create", "params": params}}})
		if st != http.StatusBadRequest {
			t.Errorf("create with %v: %d %v", params, st, body)
		}
	}
	st, body := op.do("POST", "/api/v1/change-requests", map[string]any{"title": "bad key", "connector_id": conn["id"],
		"operations": []any{map[string]any{"type": "host.ssh_key.add", "params": map[string]any{"host": hostname, "user": "alice",
			"public_key": `command="/bin/sh" ` + key}}}})
	if st != http.StatusBadRequest {
		t.Errorf("key with options: %d %v", st, body)
	}
}

// consoleLogin logs into the console and keeps the session in a cookie jar.
func consoleLogin(t *testing.T, base, email string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := insecureClient()
	hc.Jar = jar
	resp, err := hc.PostForm(base+"/login", url.Values{"email": {email}, "password": {"a long enough password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("console login: %d", resp.StatusCode)
	}
	return hc
}

func consolePage(t *testing.T, hc *http.Client, u string) string {
	t.Helper()
	resp, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return string(b)
}

// testConsoleHostUsers: after an approved change request creates a user on
// the host, the agent's next heartbeat makes it appear on the host's page in
// the console; after another removes it, it disappears.
func testConsoleHostUsers(t *testing.T, s *agentStack) {
	hc := consoleLogin(t, s.srv.base, "admin@example.com")
	page := s.srv.base + "/agents/" + s.agentID
	waitFor := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(45 * time.Second); ; {
			has := strings.Contains(consolePage(t, hc, page), `data-user="carol"`)
			if has == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("console host page: carol listed = %v, want %v", has, want)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	waitFor(false)
	runHostChange(t, s, "host.user.create", map[string]any{"name": "carol", "shell": "/bin/bash"})
	waitFor(true)
	runHostChange(t, s, "host.user.delete", map[string]any{"name": "carol"})
	waitFor(false)
}

// runHostChange takes one host operation through create, submit, approve
// and execute on the "hosts" connector made by testHostOperations.
func runHostChange(t *testing.T, s *agentStack, typ string, params map[string]any) {
	t.Helper()
	_, conns := s.admin.do("GET", "/api/v1/connectors", nil)
	var connID any
	for _, c := range conns["connectors"].([]any) {
		if m := c.(map[string]any); m["type"] == "agents" {
			connID = m["id"]
		}
	}
	params["host"] = s.hostname
	st, cr := s.op.do("POST", "/api/v1/change-requests", map[string]any{"title": typ, "connector_id": connID,
		"operations": []any{map[string]any{"type": typ, "params": params}}})
	if st != http.StatusCreated {
		t.Fatalf("create %s: %d %v", typ, st, cr)
	}
	path := fmt.Sprintf("/api/v1/change-requests/%v", cr["id"])
	for _, step := range []struct {
		who    *apiClient
		action string
	}{{s.op, "submit"}, {s.appr, "approve"}, {s.op, "execute"}} {
		if st, body := step.who.do("POST", path+"/"+step.action, stepBody(step.action)); st != 200 {
			t.Fatalf("%s %s: %d %v", typ, step.action, st, body)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		_, body := s.op.do("GET", path, nil)
		if body["status"] == "succeeded" {
			return
		}
		if body["status"] != "executing" || time.Now().After(deadline) {
			t.Fatalf("%s: %v", typ, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
