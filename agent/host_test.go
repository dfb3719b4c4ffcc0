package agent

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
)

const (
	testEd25519   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBI6TY03JqOZX5+PP7CJGRUVpaLOm9+ko3VRMrJtnEmb test k_ed25519"
	testEd25519FP = "SHA256:0dIMgQvCQiLNGJoXkacpjbx+zzgKeABEH2gx6cRmAO4"
	testECDSA     = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNpVGWgZqNM3tQ8kyBtcAvXI+9C7LljIZ/KZVCxrn/XminCMqoLK1a9VJilyL03zrY6ixDFyM6LmIflNxlx9EFE= test k_ecdsab256"
	testECDSAFP   = "SHA256:/i0PVxfva+PHN9p6xttkqZ56l+2gauVLIYIGauXaoS4"
)

// newTestRoot builds a minimal system root: root, a regular user alice
// (uid 1000, with a password), a system account daemon, and the host's
// login.defs so useradd picks the same uid ranges as on this machine.
func newTestRoot(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the shadow-utils tools need root, even with --root")
	}
	for _, tool := range []string{"useradd", "usermod", "userdel"} {
		if _, err := exec.LookPath("/usr/sbin/" + tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	root := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	defs, err := os.ReadFile("/etc/login.defs")
	if err != nil {
		t.Skipf("no /etc/login.defs to copy: %v", err)
	}
	write("etc/login.defs", string(defs), 0o644)
	write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nodd:x:1001:1001::/:/bin/sh\n", 0o644)
	write("etc/group", "root:x:0:\ndaemon:x:1:\nusers:x:100:\nalice:x:1000:\nodd:x:1001:\ndev:x:1500:\n", 0o644)
	write("etc/shadow", "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nalice:$6$salt$hash:19000:0:99999:7:::\nodd:!:19000:0:99999:7:::\n", 0o640)
	write("etc/gshadow", "root:*::\ndaemon:*::\nusers:*::\nalice:!::\nodd:!::\ndev:!::\n", 0o640)
	write("etc/os-release", "NAME=Test\nPRETTY_NAME=\"Test Linux 1.0\"\n", 0o644)
	if err := os.MkdirAll(filepath.Join(root, "home/alice"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(root, "home/alice"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t *testing.T, x *Executor, typ string, params any) ops.Result {
	t.Helper()
	p, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return x.Execute(context.Background(), ops.Work{ID: "w-" + typ, Type: typ, Params: p})
}

func mustOK(t *testing.T, r ops.Result) ops.Result {
	t.Helper()
	if !r.OK {
		t.Fatalf("work %s failed: %s", r.ID, r.Error)
	}
	return r
}

func readFile(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// snapshot captures every file under root so a refused operation can be
// shown to have changed nothing.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if fi.IsDir() {
			out[rel] = "dir " + fi.Mode().String()
			return nil
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			out[rel] = "symlink " + target
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = fi.Mode().String() + " " + string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, before, after map[string]string, what string) {
	t.Helper()
	if len(before) != len(after) {
		t.Errorf("%s: file count %d -> %d", what, len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s changed", what, k)
		}
	}
}

func passwdLine(t *testing.T, root, name string) string {
	t.Helper()
	for line := range strings.SplitSeq(readFile(t, root, "etc/passwd"), "\n") {
		if strings.HasPrefix(line, name+":") {
			return line
		}
	}
	return ""
}

func shadowPassword(t *testing.T, root, name string) string {
	t.Helper()
	for line := range strings.SplitSeq(readFile(t, root, "etc/shadow"), "\n") {
		if f := strings.Split(line, ":"); f[0] == name && len(f) > 1 {
			return f[1]
		}
	}
	return "<missing>"
}
