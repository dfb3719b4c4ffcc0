package hosts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
)

// planText describes op on h from its last inventory. It fails only where
// that inventory shows the agent would refuse: a user that already exists
// (create) or a system account (uid out of the agent's range).
func planText(op ops.Op, h *host, now time.Time) (string, error) {
	if !h.hasInv {
		if _, ok := op.(ops.FactsRefresh); !ok {
			return fmt.Sprintf("Will %s on %s. The agent has not reported its users yet, so the current state is unknown.",
				op.Summary(), h.name()), nil
		}
	}
	u := h.user(opUser(op))
	if u != nil && (u.UID < ops.MinUID || u.UID > ops.MaxUID) {
		if _, create := op.(ops.UserCreate); !create {
			return "", app.Errorf(app.EINVALID, "%s has uid %d on %s: the agent never changes system accounts (uid below %d or above %d)",
				u.Name, u.UID, h.agent.Hostname, ops.MinUID, ops.MaxUID)
		}
	}
	switch o := op.(type) {
	case ops.UserCreate:
		return planUserCreate(o, h, u, now)
	case ops.UserLock:
		return planUserLock(o, h, u), nil
	case ops.UserUnlock:
		return planUserUnlock(o, h, u), nil
	case ops.UserDelete:
		return planUserDelete(o, h, u), nil
	case ops.SSHKeyAdd:
		return planSSHKeyAdd(o, h, u)
	case ops.SSHKeyRemove:
		return planSSHKeyRemove(o, h, u), nil
	case ops.FactsRefresh:
		return planFactsRefresh(h), nil
	}
	return "", fmt.Errorf("agents: no plan for %s", op.Type())
}

// Each plan function below describes one operation on h, given the user it
// is about as of the last inventory (nil when that inventory lacks it).

// missing warns that the agent refuses an operation on a user it lacks.
func missing(name string) string {
	return fmt.Sprintf(" %s is not a local user in the last inventory; unless it is created before this runs, the agent will refuse.", name)
}

func planUserCreate(o ops.UserCreate, h *host, u *ops.HostUser, now time.Time) (string, error) {
	if u != nil {
		return "", app.Errorf(app.ECONFLICT, "%s already exists on %s (uid %d) as of its %s", o.Name, h.agent.Hostname, u.UID, h.seen(now))
	}
	s := fmt.Sprintf("Will create local user %s on %s with shell %s and a home directory", o.Name, h.name(), o.Shell)
	if len(o.Groups) > 0 {
		s += ", in groups " + strings.Join(o.Groups, ", ")
	}
	if o.Comment != "" {
		s += fmt.Sprintf(", comment %q", o.Comment)
	}
	s += ". Its password starts locked, so it can log in only with an SSH key added by a later operation."
	return s + privileged(h, o.PrivilegedGroups(h.facts.PrivilegedGroups), "adds user "+o.Name+" to"), nil
}

// privileged names the root-equivalent groups a change grants, and whether
// the host's agent policy (as its last heartbeat reported it) will let the
// agent do it, so reviewers cannot approve a root grant without seeing it.
// The agent enforces its policy whatever this says.
func privileged(h *host, groups []string, grant string) string {
	var s string
	for _, g := range groups {
		s += fmt.Sprintf(" This %s PRIVILEGED group %s (root-equivalent: its members can become root on %s);", grant, g, h.agent.Hostname)
		switch {
		case len(h.facts.PrivilegedGroups) == 0:
			s += " the agent refuses it unless its local policy allows the group."
		case slices.Contains(h.facts.AllowedPrivilegedGroups, g):
			s += " the host's agent policy allows it."
		default:
			s += " the host's agent policy does not allow it, so the agent will refuse."
		}
	}
	return s
}

func planUserLock(o ops.UserLock, h *host, u *ops.HostUser) string {
	where := h.name()
	if u == nil {
		return fmt.Sprintf("Will lock the password of %s on %s.", o.Name, where) + missing(o.Name)
	}
	if u.Locked {
		return fmt.Sprintf("%s (uid %d) on %s is already locked; the agent will change nothing.", o.Name, u.UID, where)
	}
	s := fmt.Sprintf("Will lock the password of %s (uid %d) on %s (usermod -L); it is currently unlocked with %s.",
		o.Name, u.UID, where, keys(len(u.SSHKeys)))
	if len(u.SSHKeys) > 0 {
		s += " A password lock does not stop SSH key logins: remove the keys with host.ssh_key.remove to cut access."
	}
	return s
}

func planUserUnlock(o ops.UserUnlock, h *host, u *ops.HostUser) string {
	where := h.name()
	if u == nil {
		return fmt.Sprintf("Will unlock the password of %s on %s.", o.Name, where) + missing(o.Name)
	}
	if !u.Locked {
		return fmt.Sprintf("%s (uid %d) on %s is not locked; the agent will change nothing.", o.Name, u.UID, where)
	}
	return fmt.Sprintf("Will unlock the password of %s (uid %d) on %s (usermod -U); it is currently locked with %s. If it has no password, the agent fails rather than leave it passwordless.",
		o.Name, u.UID, where, keys(len(u.SSHKeys)))
}

func planUserDelete(o ops.UserDelete, h *host, u *ops.HostUser) string {
	where := h.name()
	if u == nil {
		return fmt.Sprintf("Will delete local user %s on %s. %s is not in the last inventory; if it still does not exist, the agent will change nothing.",
			o.Name, where, o.Name)
	}
	state := "unlocked"
	if u.Locked {
		state = "locked"
	}
	s := fmt.Sprintf("Will delete local user %s (uid %d, %s, %s) on %s", o.Name, u.UID, state, keys(len(u.SSHKeys)), where)
	if o.RemoveHome {
		return s + fmt.Sprintf(" and remove its home directory %s with everything in it (userdel -r).", u.Home)
	}
	return s + fmt.Sprintf("; its home directory %s stays on disk (userdel).", u.Home)
}

func planSSHKeyAdd(o ops.SSHKeyAdd, h *host, u *ops.HostUser) (string, error) {
	where := h.name()
	k, err := ops.ParsePublicKey(o.PublicKey)
	if err != nil { // Validate parsed it already
		return "", app.Errorf(app.EINVALID, "public_key: %s", err)
	}
	desc := keyDesc(k.Fingerprint, k.Type, k.Comment)
	if u == nil {
		return fmt.Sprintf("Will add SSH key %s for %s on %s.", desc, o.User, where) + missing(o.User), nil
	}
	for _, have := range u.SSHKeys {
		if have.Fingerprint == k.Fingerprint {
			return fmt.Sprintf("SSH key %s is already authorized for %s on %s; the agent will change nothing.", desc, o.User, where), nil
		}
	}
	s := fmt.Sprintf("Will add SSH key %s, without options, to the authorized_keys of %s (uid %d) on %s, which has %s now.",
		desc, o.User, u.UID, where, keys(len(u.SSHKeys)))
	if u.Locked {
		s += fmt.Sprintf(" %s's password is locked; the key opens a login all the same.", o.User)
	}
	var groups []string
	for _, g := range u.Groups {
		if ops.IsRootEquivalentGroup(g) || slices.Contains(h.facts.PrivilegedGroups, g) {
			groups = append(groups, g)
		}
	}
	return s + privileged(h, groups, "key logs into "+o.User+", a member of"), nil
}

func planSSHKeyRemove(o ops.SSHKeyRemove, h *host, u *ops.HostUser) string {
	where := h.name()
	if u == nil {
		return fmt.Sprintf("Will remove SSH key %s from %s on %s.", o.Fingerprint, o.User, where) + missing(o.User)
	}
	for _, have := range u.SSHKeys {
		if have.Fingerprint == o.Fingerprint {
			return fmt.Sprintf("Will remove SSH key %s from the authorized_keys of %s (uid %d) on %s, every line with that key, options or not; %s will remain.",
				keyDesc(have.Fingerprint, have.Type, have.Comment), o.User, u.UID, where, keys(len(u.SSHKeys)-1))
		}
	}
	return fmt.Sprintf("SSH key %s is not authorized for %s on %s in the last inventory; unless it was added since, the agent will change nothing.",
		o.Fingerprint, o.User, where)
}

func planFactsRefresh(h *host) string {
	return fmt.Sprintf("Will ask the agent on %s to report its facts and inventory now; nothing on the host changes.", h.name())
}

func keys(n int) string {
	switch n {
	case 0:
		return "no SSH keys"
	case 1:
		return "1 SSH key"
	}
	return fmt.Sprintf("%d SSH keys", n)
}

func keyDesc(fp, typ, comment string) string {
	if comment != "" {
		return fmt.Sprintf("%s (%s, %q)", fp, typ, comment)
	}
	return fmt.Sprintf("%s (%s)", fp, typ)
}
