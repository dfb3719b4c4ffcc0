package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentPrivilegedGroupPolicy: a reviewed change request that adds a
// user to sudo is refused by the real agent process on its host, with the
// temporary root's files untouched, until the host's own policy file allows
// sudo; then the same change succeeds. The plan reviewers approve names
// the group as PRIVILEGED either way.
func TestAgentPrivilegedGroupPolicy(t *testing.T) {
	s := startAgentStack(t, buildAgent(t))
	appendTo := func(name, text string) {
		f, err := os.OpenFile(filepath.Join(s.root, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("etc/group", "sudo:x:27:\n")
	appendTo("etc/gshadow", "sudo:*::\n")
	st, conn := s.admin.do("POST", "/api/v1/connectors", map[string]any{"name": "hosts", "type": "agents",
		"config": map[string]any{"labels": map[string]string{"env": "test"}, "timeout": "30s"}})
	if st != http.StatusCreated {
		t.Fatalf("agents connector: %d %v", st, conn)
	}
	// change runs "dave into sudo" through create, submit, approve and
	// execute, and returns the finished change request.
	change := func() map[string]any {
		t.Helper()
		st, cr := s.op.do("POST", "/api/v1/change-requests", map[string]any{"title": "dave is an admin", "connector_id": conn["id"],
			"operations": []any{map[string]any{"type": "host.user.create",
				"params": map[string]any{"host": s.hostname, "name": "dave", "groups": []string{"sudo"}, "shell": "/bin/bash"}}}})
		if st != http.StatusCreated {
			t.Fatalf("create: %d %v", st, cr)
		}
		path := fmt.Sprintf("/api/v1/change-requests/%v", cr["id"])
		_, got := s.op.do("GET", path, nil)
		if b, _ := json.Marshal(got); !strings.Contains(string(b), "PRIVILEGED group sudo") {
			t.Errorf("the plan does not name sudo as privileged: %s", b)
		}
		for _, step := range []struct {
			who    *apiClient
			action string
		}{{s.op, "submit"}, {s.appr, "approve"}, {s.op, "execute"}} {
			if st, body := step.who.do("POST", path+"/"+step.action, stepBody(step.action)); st != 200 {
				t.Fatalf("%s: %d %v", step.action, st, body)
			}
		}
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			_, body := s.op.do("GET", path, nil)
			if body["status"] != "executing" {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("still executing: %v", body)
			}
		}
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(s.root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// The stack's policy file narrows nothing and allows no privileged group.
	groupBefore, passwdBefore := read("etc/group"), read("etc/passwd")
	cr := change()
	b, _ := json.Marshal(cr)
	if cr["status"] != "failed" || !strings.Contains(string(b), "group sudo is PRIVILEGED") || !strings.Contains(string(b), "allow_privileged_groups") {
		t.Fatalf("adding dave to sudo without the host's consent: %s", b)
	}
	if read("etc/group") != groupBefore || read("etc/passwd") != passwdBefore {
		t.Fatalf("the refused change touched the host:\n%s\n%s", read("etc/group"), read("etc/passwd"))
	}

	// The host owner allows sudo in the agent's own policy file and
	// restarts it; the same change now goes through.
	if err := s.agentProc.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = s.agentProc.Wait()
	policy := filepath.Join(t.TempDir(), "agent.conf")
	if err := os.WriteFile(policy, []byte("allow_privileged_groups = sudo # this host's admins are managed by Nexplane\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	agent := exec.CommandContext(ctx, s.agentBin, "run", "--state-dir", s.state, "--root", s.root, "--config", policy)
	logs := &syncBuffer{}
	agent.Stdout, agent.Stderr = logs, logs
	if err := agent.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = agent.Wait() })
	if cr := change(); cr["status"] != "succeeded" {
		t.Fatalf("with sudo allowed by the host: %v\nagent: %s", cr, logs.String())
	}
	if !strings.Contains(read("etc/group"), "sudo:x:27:dave") {
		t.Errorf("dave not in sudo:\n%s", read("etc/group"))
	}

	// A malformed policy file stops the agent at startup with a clear error.
	if err := os.WriteFile(policy, []byte("allow_privileged_groups = root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := s.runAgent("run", "--state-dir", s.state, "--root", s.root, "--config", policy)
	if err == nil || !strings.Contains(out, "root") || !strings.Contains(out, "can never be granted") {
		t.Errorf("agent with a malformed policy: %v %s", err, out)
	}
}
