package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAirGapped runs the server and an agent in a network namespace whose
// only interface is loopback, and completes login, a reviewed change
// request on the host and the audit trail through the API: nothing in
// either binary needs the outside world. The test re-executes itself
// inside `unshare -n`.
func TestAirGapped(t *testing.T) {
	if os.Getenv("NEXPLANE_AIRGAP_INNER") != "1" {
		for _, tool := range []string{"unshare", "ip"} {
			if _, err := exec.LookPath(tool); err != nil {
				requireIntegration(t, tool+" not found (util-linux, iproute2)")
			}
		}
		agentBin := buildAgent(t) // built outside: the namespace has no module proxy
		cmd := exec.Command("unshare", "-n", "--", "sh", "-c", `ip link set lo up && exec "$0" -test.run '^TestAirGapped$' -test.v`, os.Args[0])
		cmd.Env = append(os.Environ(), "NEXPLANE_AIRGAP_INNER=1", "NEXPLANE_AIRGAP_AGENT="+agentBin)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestAirGapped") {
			t.Fatalf("inside the network namespace: %v\n%s", err, out)
		}
		return
	}

	// Inside: prove there is no way out, then do the work.
	if ifaces := interfacesUp(t); len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Fatalf("interfaces in the namespace: %v, want only lo", ifaces)
	}
	s := startAgentStack(t, os.Getenv("NEXPLANE_AIRGAP_AGENT"))
	st, conn := s.admin.do("POST", "/api/v1/connectors", map[string]any{"name": "hosts", "type": "agents",
		"config": map[string]any{"labels": map[string]string{"env": "test"}, "timeout": "30s"}})
	if st != http.StatusCreated {
		t.Fatalf("connector: %d %v", st, conn)
	}
	st, cr := s.op.do("POST", "/api/v1/change-requests", map[string]any{"title": "lock alice", "connector_id": conn["id"],
		"operations": []any{map[string]any{"type": "host.user.lock", "params": map[string]any{"host": s.hostname, "name": "alice"}}}})
	if st != http.StatusCreated {
		t.Fatalf("change request: %d %v", st, cr)
	}
	path := fmt.Sprintf("/api/v1/change-requests/%v", cr["id"])
	for _, step := range []struct {
		who    *apiClient
		action string
	}{{s.op, "submit"}, {s.appr, "approve"}, {s.op, "execute"}} {
		if st, body := step.who.do("POST", path+"/"+step.action, stepBody(step.action)); st != 200 {
			t.Fatalf("%s: %d %v", step.action, st, body)
		}
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		_, body := s.op.do("GET", path, nil)
		if body["status"] == "succeeded" {
			break
		}
		if body["status"] != "executing" || time.Now().After(deadline) {
			t.Fatalf("change request: %v", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, audit := s.admin.do("GET", fmt.Sprintf("/api/v1/audit?resource_type=change_request&resource_id=%v&limit=100", cr["id"]), nil)
	var events []string
	for _, e := range audit["events"].([]any) {
		events = append(events, e.(map[string]any)["event"].(string))
	}
	for _, want := range []string{"change.created", "change.submitted", "change.approved", "change.execution_started", "change.operation_succeeded", "change.succeeded"} {
		if !strings.Contains(strings.Join(events, " "), want) {
			t.Errorf("audit lacks %s: %v", want, events)
		}
	}
}

// interfacesUp lists this network namespace's interfaces (/proc/net/dev is
// per namespace; /sys/class/net would show the host's unless remounted).
func interfacesUp(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n")[2:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			names = append(names, name)
		}
	}
	return names
}
