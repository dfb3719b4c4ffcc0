package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
)

func TestSSHKeyAddRemove(t *testing.T) {
	root := newTestRoot(t)
	x := &Executor{Root: root}
	ak := filepath.Join(root, "home/alice/.ssh/authorized_keys")

	r := mustOK(t, run(t, x, ops.TypeSSHKeyAdd, ops.SSHKeyAdd{User: "alice", PublicKey: testEd25519}))
	if r.Details["changed"] != true || r.Details["fingerprint"] != testEd25519FP {
		t.Errorf("add: %+v", r)
	}
	if got := readFile(t, root, "home/alice/.ssh/authorized_keys"); got != testEd25519+"\n" {
		t.Errorf("authorized_keys = %q", got)
	}
	if uid, gid, mode := fileOwner(t, ak); uid != 1000 || gid != 1000 || mode.Perm() != 0o600 {
		t.Errorf("authorized_keys owner %d:%d mode %v", uid, gid, mode)
	}
	if uid, gid, mode := fileOwner(t, filepath.Dir(ak)); uid != 1000 || gid != 1000 || mode.Perm() != 0o700 || !mode.IsDir() {
		t.Errorf(".ssh owner %d:%d mode %v", uid, gid, mode)
	}

	// Idempotent: the same key again changes nothing.
	before := snapshot(t, root)
	r = mustOK(t, run(t, x, ops.TypeSSHKeyAdd, ops.SSHKeyAdd{User: "alice", PublicKey: testEd25519}))
	if r.Details["changed"] != false {
		t.Errorf("second add: %+v", r)
	}
	sameSnapshot(t, before, snapshot(t, root), "second add")

	// Lines the agent did not write survive edits: a comment, an option line.
	existing := "# keep me\n" + readFile(t, root, "home/alice/.ssh/authorized_keys") + `restrict,command="uptime" ` + testECDSA + "\n"
	if err := os.WriteFile(ak, []byte(existing), 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustOK(t, run(t, x, ops.TypeSSHKeyAdd, ops.SSHKeyAdd{User: "alice", PublicKey: testECDSA}))
	if r.Details["changed"] != false {
		t.Errorf("key present with options was added again: %+v", r)
	}
	users, err := CollectUsers(root)
	if err != nil {
		t.Fatal(err)
	}
	var alice ops.HostUser
	for _, u := range users {
		if u.Name == "alice" {
			alice = u
		}
	}
	if len(alice.SSHKeys) != 2 || alice.SSHKeys[0].Fingerprint != testEd25519FP || alice.SSHKeys[1].Fingerprint != testECDSAFP {
		t.Errorf("inventory keys %+v", alice.SSHKeys)
	}

	mustOK(t, run(t, x, ops.TypeSSHKeyRemove, ops.SSHKeyRemove{User: "alice", Fingerprint: testECDSAFP}))
	if got := readFile(t, root, "home/alice/.ssh/authorized_keys"); got != "# keep me\n"+testEd25519+"\n" {
		t.Errorf("after remove: %q", got)
	}
	before = snapshot(t, root)
	r = mustOK(t, run(t, x, ops.TypeSSHKeyRemove, ops.SSHKeyRemove{User: "alice", Fingerprint: testECDSAFP}))
	if r.Details["changed"] != false {
		t.Errorf("removing a missing key: %+v", r)
	}
	sameSnapshot(t, before, snapshot(t, root), "remove missing")

	// No temp files left behind.
	ents, _ := os.ReadDir(filepath.Dir(ak))
	if len(ents) != 1 {
		t.Errorf(".ssh holds %d entries", len(ents))
	}
}

func TestSSHKeyRefusals(t *testing.T) {
	root := newTestRoot(t)
	x := &Executor{Root: root}
	// A user-planted symlink must not lead root's write elsewhere.
	target := filepath.Join(root, "etc")
	if err := os.Symlink(target, filepath.Join(root, "home/alice/.ssh")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	for _, tc := range []struct {
		params any
		want   string
	}{
		{ops.SSHKeyAdd{User: "alice", PublicKey: testEd25519}, "not a directory"},
		{ops.SSHKeyAdd{User: "alice", PublicKey: `command="/bin/sh" ` + testEd25519}, "options"},
		{ops.SSHKeyAdd{User: "alice", PublicKey: "ssh-dss AAAAB3NzaC1kc3MAAACBAP"}, "not allowed"},
		{ops.SSHKeyAdd{User: "root", PublicKey: testEd25519}, "system account"},
		{ops.SSHKeyAdd{User: "ghost", PublicKey: testEd25519}, "does not exist"},
		{map[string]string{"user": "alice", "public_key": testEd25519, "options": "x"}, "unknown field"},
	} {
		r := run(t, x, ops.TypeSSHKeyAdd, tc.params)
		if r.OK || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%+v: %+v, want %q", tc.params, r, tc.want)
		}
	}
	if r := run(t, x, ops.TypeSSHKeyRemove, ops.SSHKeyRemove{User: "alice", Fingerprint: "SHA256:nope"}); r.OK {
		t.Errorf("bad fingerprint accepted")
	}
	sameSnapshot(t, before, snapshot(t, root), "refused key ops")

	// authorized_keys itself a symlink: refused too.
	os.Remove(filepath.Join(root, "home/alice/.ssh"))
	os.Mkdir(filepath.Join(root, "home/alice/.ssh"), 0o700)
	os.Symlink("/etc/passwd", filepath.Join(root, "home/alice/.ssh/authorized_keys"))
	if r := run(t, x, ops.TypeSSHKeyAdd, ops.SSHKeyAdd{User: "alice", PublicKey: testEd25519}); r.OK || !strings.Contains(r.Error, "not a regular file") {
		t.Errorf("symlinked authorized_keys: %+v", r)
	}
}

func TestInventoryAndFacts(t *testing.T) {
	root := newTestRoot(t)
	users, err := CollectUsers(root)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]ops.HostUser{}
	for _, u := range users {
		byName[u.Name] = u
	}
	if u := byName["alice"]; u.UID != 1000 || u.Locked || u.Shell != "/bin/bash" || u.Home != "/home/alice" || u.SSHKeys == nil {
		t.Errorf("alice = %+v", u)
	}
	if !byName["odd"].Locked || byName["root"].UID != 0 {
		t.Errorf("odd/root = %+v %+v", byName["odd"], byName["root"])
	}
	f := CollectFacts(root, "1.2.3")
	if f.OS != "Test Linux 1.0" || f.AgentVersion != "1.2.3" || f.Hostname == "" || f.Kernel == "" || f.UptimeSeconds <= 0 {
		t.Errorf("facts = %+v", f)
	}
	refreshed := false
	x := &Executor{Root: root, AgentVersion: "1.2.3", OnFactsRefresh: func() { refreshed = true }}
	if r := mustOK(t, run(t, x, ops.TypeFactsRefresh, struct{}{})); !refreshed || r.Details["facts"] == nil {
		t.Errorf("facts.refresh: %+v refreshed=%v", r, refreshed)
	}
}
