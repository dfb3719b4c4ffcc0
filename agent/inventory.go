package agent

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/agent/ops"
)

// CollectUsers lists the local accounts under root with their locked state
// and the fingerprints in each ~/.ssh/authorized_keys.
func CollectUsers(root string) ([]ops.HostUser, error) {
	users, err := readPasswd(root)
	if err != nil {
		return nil, err
	}
	locked, err := readShadowLocked(root)
	if err != nil {
		return nil, err
	}
	noPassword, err := readShadowNoPassword(root)
	if err != nil {
		return nil, err
	}
	// Group names only annotate the inventory: without /etc/group the
	// users are still worth reporting.
	groups, err := readGroups(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := make([]ops.HostUser, 0, len(users))
	for _, u := range users {
		out = append(out, ops.HostUser{
			Name: u.Name, UID: u.UID, Shell: u.Shell, Home: u.Home,
			Locked: locked[u.Name], NoPassword: noPassword[u.Name], SSHKeys: userKeys(root, u.Home),
			Groups: memberOf(u, groups),
		})
	}
	return out, nil
}

// memberOf names u's groups: the primary one first, then those listing u.
func memberOf(u passwdEntry, groups []groupEntry) []string {
	var out []string
	for _, g := range groups {
		if g.GID == u.GID {
			out = append(out, g.Name)
			break
		}
	}
	for _, g := range groups {
		if g.GID != u.GID && slices.Contains(g.Members, u.Name) {
			out = append(out, g.Name)
		}
	}
	return out
}

// userKeys reads a user's authorized_keys inside an os.Root at the home, so
// a symlink there cannot make the agent read files elsewhere. Any problem
// yields no keys: inventory is best effort, never fatal.
func userKeys(root, home string) []ops.SSHKey {
	keys := []ops.SSHKey{}
	if home == "" {
		return keys
	}
	r, err := os.OpenRoot(sysPath(root, home))
	if err != nil {
		return keys
	}
	defer r.Close()
	f, err := r.Open(authorizedKeys)
	if err != nil {
		return keys
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAuthorizedKeysBytes))
	if err != nil {
		return keys
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), maxAuthorizedKeysBytes)
	for sc.Scan() {
		if k, ok, err := ops.ParseAuthorizedKeysLine(sc.Text()); ok && err == nil {
			keys = append(keys, ops.SSHKey{Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment})
		}
	}
	return keys
}

// CollectFacts describes the host. Each fact is best effort: an unreadable
// source leaves it empty rather than failing the heartbeat.
func CollectFacts(root, agentVersion string) ops.Facts {
	f := ops.Facts{AgentVersion: agentVersion, OS: osPrettyName(root), Kernel: kernelRelease()}
	f.Hostname, _ = os.Hostname()
	f.UptimeSeconds = uptimeSeconds()
	return f
}

func osPrettyName(root string) string {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := os.ReadFile(sysPath(root, p))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
				if u, err := strconv.Unquote(v); err == nil {
					return u
				}
				return strings.Trim(v, `"'`)
			}
		}
	}
	return ""
}

// kernelRelease reads what uname -r prints; /proc avoids a Linux-only
// syscall so the package still builds elsewhere.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func uptimeSeconds() int64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return int64(v)
}
