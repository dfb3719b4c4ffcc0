package hosts_test

import (
	"strings"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
)

// TestPlanPrivilegedGroups: a plan that would make an account
// root-equivalent says so in capitals, and says whether the host's agent
// policy (from its last heartbeat) will let it happen.
func TestPlanPrivilegedGroups(t *testing.T) {
	e := newEnv(t)
	users := []ops.HostUser{
		{Name: "alice", UID: 1001, Shell: "/bin/bash", Home: "/home/alice", Groups: []string{"alice"}},
		{Name: "carl", UID: 1002, Shell: "/bin/bash", Home: "/home/carl", Groups: []string{"carl", "sudo"}},
	}
	// web-1 allows docker; old reports no policy (an older agent).
	web := e.enroll("web-1", map[string]string{"env": "prod"})
	hb := ops.Heartbeat{Facts: ops.Facts{Hostname: "web-1", AgentVersion: "1.2.3",
		PrivilegedGroups:        append(ops.RootEquivalentGroups(), "backup-ops"),
		AllowedPrivilegedGroups: []string{"docker"}}, Users: users}
	if err := e.svc.RecordHeartbeat(t.Context(), web.ID, hb); err != nil {
		t.Fatal(err)
	}
	old := e.enroll("old-1", map[string]string{"env": "prod"})
	e.heartbeat(old, users)
	c := e.connect(`{"labels":{"env":"prod"}}`)

	key, _ := sshKey(t, "")
	for _, tc := range []struct {
		typ, params string
		want        []string
		notWant     string
	}{
		{"host.user.create", `{"host":"web-1","name":"bob","shell":"/bin/bash","groups":["dev","sudo"]}`, []string{
			"This adds user bob to PRIVILEGED group sudo (root-equivalent: its members can become root on web-1)",
			"the host's agent policy does not allow it, so the agent will refuse"}, "PRIVILEGED group dev"},
		{"host.user.create", `{"host":"web-1","name":"bob","shell":"/bin/bash","groups":["docker"]}`, []string{
			"PRIVILEGED group docker", "the host's agent policy allows it"}, "refuse"},
		{"host.user.create", `{"host":"web-1","name":"bob","shell":"/bin/bash","groups":["backup-ops"]}`, []string{
			"PRIVILEGED group backup-ops", "will refuse"}, ""},
		{"host.user.create", `{"host":"old-1","name":"bob","shell":"/bin/bash","groups":["wheel"]}`, []string{
			"PRIVILEGED group wheel", "the agent refuses it unless its local policy allows the group"}, ""},
		{"host.user.create", `{"host":"web-1","name":"bob","shell":"/bin/bash","groups":["dev"]}`, []string{"in groups dev"}, "PRIVILEGED"},
		{"host.ssh_key.add", `{"host":"web-1","user":"carl","public_key":"` + key + `"}`, []string{
			"This key logs into carl, a member of PRIVILEGED group sudo", "will refuse"}, ""},
		{"host.ssh_key.add", `{"host":"web-1","user":"alice","public_key":"` + key + `"}`, []string{"Will add SSH key"}, "PRIVILEGED"},
	} {
		got, err := e.op(tc.typ, tc.params).Plan(t.Context(), c)
		if err != nil {
			t.Errorf("plan %s: %v", tc.params, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("plan %s = %q\nwant it to contain %q", tc.params, got, w)
			}
		}
		if tc.notWant != "" && strings.Contains(got, tc.notWant) {
			t.Errorf("plan %s = %q\nwant it not to contain %q", tc.params, got, tc.notWant)
		}
	}
}
