package agent

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
)

func TestUserLifecycle(t *testing.T) {
	root := newTestRoot(t)
	x := &Executor{Root: root}

	r := mustOK(t, run(t, x, ops.TypeUserCreate, ops.UserCreate{Name: "bob", Groups: []string{"users", "dev"}, Shell: "/usr/bin/zsh", Comment: "Bob B"}))
	line := passwdLine(t, root, "bob")
	f := strings.Split(line, ":")
	if len(f) != 7 || f[4] != "Bob B" || f[5] != "/home/bob" || f[6] != "/usr/bin/zsh" {
		t.Fatalf("passwd line %q", line)
	}
	if r.Details["uid"].(int) < ops.MinUID {
		t.Errorf("uid %v", r.Details["uid"])
	}
	group := readFile(t, root, "etc/group")
	if !strings.Contains(group, "users:x:100:bob") || !strings.Contains(group, "dev:x:1500:bob") {
		t.Errorf("groups not updated:\n%s", group)
	}
	if fi, err := os.Stat(filepath.Join(root, "home/bob")); err != nil || !fi.IsDir() {
		t.Errorf("home not created: %v", err)
	}
	if pw := shadowPassword(t, root, "bob"); !strings.HasPrefix(pw, "!") {
		t.Errorf("new user's password %q is not locked", pw)
	}

	// Creating again is refused, with nothing changed.
	before := snapshot(t, root)
	if r := run(t, x, ops.TypeUserCreate, ops.UserCreate{Name: "bob", Shell: "/bin/sh"}); r.OK || !strings.Contains(r.Error, "already exists") {
		t.Errorf("second create: %+v", r)
	}
	sameSnapshot(t, before, snapshot(t, root), "duplicate create")

	// Lock / unlock alice, who has a password.
	mustOK(t, run(t, x, ops.TypeUserLock, ops.UserLock{Name: "alice"}))
	if pw := shadowPassword(t, root, "alice"); pw != "!$6$salt$hash" {
		t.Errorf("after lock: %q", pw)
	}
	r = mustOK(t, run(t, x, ops.TypeUserLock, ops.UserLock{Name: "alice"}))
	if r.Details["changed"] != false || shadowPassword(t, root, "alice") != "!$6$salt$hash" {
		t.Errorf("second lock changed something: %+v", r)
	}
	mustOK(t, run(t, x, ops.TypeUserUnlock, ops.UserUnlock{Name: "alice"}))
	if pw := shadowPassword(t, root, "alice"); pw != "$6$salt$hash" {
		t.Errorf("after unlock: %q", pw)
	}
	// bob has no password: usermod -U would leave it passwordless and
	// refuses quietly; the agent must report that, not claim success.
	if r := run(t, x, ops.TypeUserUnlock, ops.UserUnlock{Name: "bob"}); r.OK || !strings.Contains(r.Error, "passwordless") {
		t.Errorf("unlock of passwordless bob: %+v", r)
	}

	// Delete bob with his home.
	mustOK(t, run(t, x, ops.TypeUserDelete, ops.UserDelete{Name: "bob", RemoveHome: true}))
	if passwdLine(t, root, "bob") != "" || strings.Contains(readFile(t, root, "etc/shadow"), "bob:") {
		t.Error("bob still in passwd/shadow")
	}
	if _, err := os.Stat(filepath.Join(root, "home/bob")); !os.IsNotExist(err) {
		t.Errorf("home of bob still there: %v", err)
	}
	r = mustOK(t, run(t, x, ops.TypeUserDelete, ops.UserDelete{Name: "bob"}))
	if r.Details["changed"] != false {
		t.Errorf("deleting a missing user: %+v", r)
	}

	// Delete alice keeping her home.
	mustOK(t, run(t, x, ops.TypeUserDelete, ops.UserDelete{Name: "alice"}))
	if _, err := os.Stat(filepath.Join(root, "home/alice")); err != nil {
		t.Errorf("home of alice removed without remove_home: %v", err)
	}
}

func TestUserOpsRefuseWithNothingChanged(t *testing.T) {
	root := newTestRoot(t)
	pol, err := ParsePolicy("allow = host.user.lock, host.user.delete, host.user.create")
	if err != nil {
		t.Fatal(err)
	}
	x := &Executor{Root: root, Policy: pol}
	before := snapshot(t, root)
	for _, tc := range []struct {
		typ    string
		params any
		want   string
	}{
		{ops.TypeUserLock, ops.UserLock{Name: "root"}, "refused:"},
		{ops.TypeUserLock, map[string]string{"name": "../x"}, "refused:"},
		{ops.TypeUserLock, map[string]any{"name": "alice", "force": true}, "unknown field"},
		{ops.TypeUserLock, ops.UserLock{Name: "ghost"}, "does not exist"},
		{"host.user.chmod", map[string]string{}, "refused: unknown operation type"},
		{ops.TypeUserUnlock, ops.UserUnlock{Name: "alice"}, "not allowed by this host's policy"},
		{ops.TypeUserCreate, ops.UserCreate{Name: "eve", Shell: "/bin/tcsh"}, "not an allowed shell"},
		{ops.TypeUserCreate, ops.UserCreate{Name: "eve", Shell: "/bin/sh", Groups: []string{"nosuch"}}, "does not exist"},
		{ops.TypeUserCreate, ops.UserCreate{Name: "eve", Shell: "/bin/sh", Groups: []string{"root"}}, "root-equivalent"},
		{ops.TypeUserDelete, ops.UserDelete{Name: "odd", RemoveHome: true}, "not a per-user directory"},
	} {
		r := run(t, x, tc.typ, tc.params)
		if r.OK || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%s %+v: %+v, want error with %q", tc.typ, tc.params, r, tc.want)
		}
		if strings.Contains(tc.want, "policy") && !strings.HasPrefix(r.Error, "refused:") {
			t.Errorf("policy refusal not prefixed: %q", r.Error)
		}
	}
	sameSnapshot(t, before, snapshot(t, root), "refused ops")

	// A system account by uid, whatever its name, is refused at execution.
	daemon := &Executor{Root: root}
	p := filepath.Join(root, "etc/passwd")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, append(b, "svc:x:999:999::/var/svc:/bin/sh\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, root)
	for _, tc := range []struct {
		typ    string
		params any
	}{
		{ops.TypeUserLock, ops.UserLock{Name: "svc"}},
		{ops.TypeUserDelete, ops.UserDelete{Name: "svc"}},
		{ops.TypeSSHKeyAdd, ops.SSHKeyAdd{User: "svc", PublicKey: testEd25519}},
	} {
		if r := run(t, daemon, tc.typ, tc.params); r.OK || !strings.Contains(r.Error, "uid 999") {
			t.Errorf("%s on uid 999: %+v", tc.typ, r)
		}
	}
	sameSnapshot(t, before, snapshot(t, root), "system account")
}

func TestRootArgsOnRealRoot(t *testing.T) {
	if a := (&Executor{}).rootArgs(); a != nil {
		t.Errorf("root / passes %v", a)
	}
	if a := (&Executor{Root: "/tmp/x/"}).rootArgs(); strings.Join(a, " ") != "--root /tmp/x" {
		t.Errorf("rootArgs = %v", a)
	}
}

func fileOwner(t *testing.T, p string) (uid, gid int, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid), fi.Mode()
}
