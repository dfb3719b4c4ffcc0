package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
)

// privilegedRoot is newTestRoot with root-equivalent groups: sudo, an alias
// sharing its gid, a second name for gid 0, docker, a host-specific admin
// group, and carl, a regular account in sudo.
func privilegedRoot(t *testing.T) string {
	t.Helper()
	root := newTestRoot(t)
	appendTo := func(name, text string) {
		f, err := os.OpenFile(filepath.Join(root, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("etc/group", "sudo:x:27:carl\nsudo2:x:27:\ntoor:x:0:\ndocker:x:998:\nbackup-ops:x:1600:\ncarl:x:1002:\n")
	appendTo("etc/gshadow", "sudo:*::carl\nsudo2:*::\ntoor:*::\ndocker:!::\nbackup-ops:!::\ncarl:!::\n")
	appendTo("etc/passwd", "carl:x:1002:1002:Carl:/home/carl:/bin/bash\n")
	appendTo("etc/shadow", "carl:!:19000:0:99999:7:::\n")
	if err := os.MkdirAll(filepath.Join(root, "home/carl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(root, "home/carl"), 1002, 1002); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestPrivilegedGroupGrants: the agent refuses, before anything changes,
// any operation that would make an account root-equivalent unless the
// host's own policy allows that group by name.
func TestPrivilegedGroupGrants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string // "" = no policy file (defaults)
		typ    string
		params any
		want   string // refusal text; "" = succeeds
	}{
		{"sudo by default", "", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"dev", "sudo"}, Shell: "/bin/bash"},
			"group sudo is PRIVILEGED (root-equivalent) and this host's policy (built-in defaults) does not allow"},
		{"docker by default", "", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"docker"}, Shell: "/bin/bash"},
			"group docker is PRIVILEGED"},
		{"other group allowed", "allow_privileged_groups = docker", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"sudo"}, Shell: "/bin/bash"},
			"group sudo is PRIVILEGED"},
		{"alias of sudo's gid", "allow_privileged_groups = docker", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"sudo2"}, Shell: "/bin/bash"},
			"group sudo2 is PRIVILEGED (gid 27, shared with root-equivalent group sudo)"},
		{"second name of gid 0", "allow_privileged_groups = sudo", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"toor"}, Shell: "/bin/bash"},
			"group toor is gid 0, the root group; Nexplane never grants it"},
		{"host-specific privileged group", "privileged_groups = backup-ops", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"backup-ops"}, Shell: "/bin/bash"},
			"group backup-ops is PRIVILEGED"},
		{"key for a member of sudo", "", ops.TypeSSHKeyAdd, ops.SSHKeyAdd{User: "carl", PublicKey: testEd25519},
			"adding an SSH key for carl, a member of sudo: group sudo is PRIVILEGED"},
		{"sudo allowed", "allow_privileged_groups = sudo", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"dev", "sudo"}, Shell: "/bin/bash"}, ""},
		{"alias allowed by its own name", "privileged_groups = sudo2\nallow_privileged_groups = sudo2", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"sudo2"}, Shell: "/bin/bash"}, ""},
		{"key for a member of allowed sudo", "allow_privileged_groups = sudo", ops.TypeSSHKeyAdd, ops.SSHKeyAdd{User: "carl", PublicKey: testEd25519}, ""},
		{"ordinary groups need nothing", "", ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"users", "dev"}, Shell: "/bin/bash"}, ""},
		{"key for an ordinary user", "", ops.TypeSSHKeyAdd, ops.SSHKeyAdd{User: "alice", PublicKey: testEd25519}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := privilegedRoot(t)
			x := &Executor{Root: root}
			if tc.policy != "" {
				p, err := ParsePolicy(tc.policy)
				if err != nil {
					t.Fatal(err)
				}
				x.Policy = p
			}
			before := snapshot(t, root)
			r := run(t, x, tc.typ, tc.params)
			if tc.want == "" {
				mustOK(t, r)
				return
			}
			if r.OK || !strings.HasPrefix(r.Error, "refused: ") || !strings.Contains(r.Error, tc.want) {
				t.Fatalf("result %+v, want a refusal containing %q", r, tc.want)
			}
			sameSnapshot(t, before, snapshot(t, root), tc.name)
		})
	}
}

func TestInventoryGroups(t *testing.T) {
	root := privilegedRoot(t)
	users, err := CollectUsers(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Name == "carl" && strings.Join(u.Groups, ",") != "carl,sudo" {
			t.Errorf("carl's groups = %v, want primary carl then sudo", u.Groups)
		}
	}
	p, _ := ParsePolicy("allow_privileged_groups = docker")
	refreshed := mustOK(t, run(t, &Executor{Root: root, Policy: p}, ops.TypeFactsRefresh, struct{}{}))
	f := refreshed.Details["facts"].(ops.Facts)
	if strings.Join(f.AllowedPrivilegedGroups, ",") != "docker" || len(f.PrivilegedGroups) != len(ops.RootEquivalentGroups()) {
		t.Errorf("facts report the policy as %v / %v", f.PrivilegedGroups, f.AllowedPrivilegedGroups)
	}
}
