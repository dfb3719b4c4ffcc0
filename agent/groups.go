package agent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// groupEntry is one line of /etc/group.
type groupEntry struct {
	Name    string
	GID     int
	Members []string
}

// readGroups parses <root>/etc/group; malformed lines are skipped.
func readGroups(root string) ([]groupEntry, error) {
	b, err := readDB(root, "/etc/group")
	if err != nil {
		return nil, err
	}
	var out []groupEntry
	colonLines(b, func(f []string) {
		if len(f) != 4 {
			return
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			return
		}
		var members []string
		for m := range strings.SplitSeq(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
		out = append(out, groupEntry{Name: f[0], GID: gid, Members: members})
	})
	return out, nil
}

// privilegeOf says why membership of g is root-equivalent on this host, or
// "" when it is not. A name is not enough: a group that shares its gid with
// a privileged one ("sudo2" at gid 27) carries the same rights, and gid 0
// is the root group whatever it is called.
func (x *Executor) privilegeOf(g groupEntry, all []groupEntry) string {
	if g.GID == 0 {
		return "gid 0, the root group"
	}
	if x.Policy.IsPrivilegedGroup(g.Name) {
		return "root-equivalent"
	}
	for _, o := range all {
		if o.GID == g.GID && o.Name != g.Name && x.Policy.IsPrivilegedGroup(o.Name) {
			return fmt.Sprintf("gid %d, shared with root-equivalent group %s", g.GID, o.Name)
		}
	}
	return ""
}

// checkGrant refuses to make anyone a member of a root-equivalent group the
// host's policy does not allow. It runs on the agent, before anything
// changes, because the host owner's decision must not depend on the
// control plane enforcing it.
func (x *Executor) checkGrant(g groupEntry, all []groupEntry, what string) error {
	why := x.privilegeOf(g, all)
	if why == "" || g.GID != 0 && x.Policy.AllowsGroup(g.Name) {
		return nil
	}
	if g.GID == 0 {
		return refuse("%s: group %s is %s; Nexplane never grants it", what, g.Name, why)
	}
	return refuse("%s: group %s is PRIVILEGED (%s) and this host's policy (%s) does not allow granting it; list it in allow_privileged_groups there to permit it",
		what, g.Name, why, x.Policy.source())
}

// checkMemberships refuses when user is (by primary gid or membership) in
// a root-equivalent group the policy does not allow: a new way to log in
// as that user is a new way to become root.
func (x *Executor) checkMemberships(u passwdEntry, what string) error {
	all, err := readGroups(x.root())
	if err != nil {
		return err
	}
	for _, g := range all {
		if g.GID == u.GID || slices.Contains(g.Members, u.Name) {
			if err := x.checkGrant(g, all, fmt.Sprintf("%s, a member of %s", what, g.Name)); err != nil {
				return err
			}
		}
	}
	return nil
}
