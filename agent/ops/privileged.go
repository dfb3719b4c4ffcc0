package ops

import (
	"slices"
	"strings"
)

// rootEquivalentGroups are groups whose members can become root, or read
// what root guards, on common distributions: sudo/wheel/admin run anything
// as root, docker/lxd/kvm/disk reach the host's devices or a root container,
// adm/systemd-journal read every log, shadow reads password hashes. The
// agent never grants them unless its local policy allows the group by name.
var rootEquivalentGroups = []string{
	"root", "sudo", "wheel", "admin", "adm", "docker", "lxd", "disk", "shadow", "kvm", "systemd-journal",
}

// RootEquivalentGroups lists the groups treated as root-equivalent on every
// host, before a host's own policy adds more. The slice is a copy.
func RootEquivalentGroups() []string { return slices.Clone(rootEquivalentGroups) }

// IsRootEquivalentGroup reports whether name is in RootEquivalentGroups.
func IsRootEquivalentGroup(name string) bool { return slices.Contains(rootEquivalentGroups, name) }

// NeverGrantedGroup reports whether no policy may allow granting name: root
// is gid 0 itself and shadow hands out every password hash, so Validate
// refuses them before a change request is even drafted.
func NeverGrantedGroup(name string) bool { return reservedGroups[name] }

// PrivilegedGroups returns the groups of o that are root-equivalent, by the
// default list or the extra names a host's policy adds, in o's order.
func (o UserCreate) PrivilegedGroups(extra []string) []string {
	var out []string
	for _, g := range o.Groups {
		if IsRootEquivalentGroup(g) || slices.Contains(extra, g) {
			out = append(out, g)
		}
	}
	return out
}

// privilegedNote names root-equivalent groups so a reviewer cannot miss them.
func privilegedNote(groups []string) string {
	if len(groups) == 0 {
		return ""
	}
	return " (PRIVILEGED, root-equivalent: " + strings.Join(groups, ", ") + ")"
}
