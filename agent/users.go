package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nexplane/nexplane/agent/ops"
)

func (x *Executor) userCreate(ctx context.Context, o ops.UserCreate) (string, map[string]any, error) {
	root := x.root()
	if _, exists, err := lookupUser(root, o.Name); err != nil {
		return "", nil, err
	} else if exists {
		return "", nil, refuse("user %q already exists", o.Name)
	}
	if len(o.Groups) > 0 {
		all, err := readGroups(root)
		if err != nil {
			return "", nil, err
		}
		for _, name := range o.Groups {
			i := slices.IndexFunc(all, func(g groupEntry) bool { return g.Name == name })
			if i < 0 {
				return "", nil, refuse("group %q does not exist on this host", name)
			}
			if err := x.checkGrant(all[i], all, "creating user "+o.Name+" in group "+name); err != nil {
				return "", nil, err
			}
		}
	}
	// -m: a home for authorized_keys; the password stays locked ("!") so
	// the account is usable only with a key added by a later operation.
	args := []string{"-m", "-s", o.Shell}
	if o.Comment != "" {
		args = append(args, "-c", o.Comment)
	}
	if len(o.Groups) > 0 {
		args = append(args, "-G", strings.Join(o.Groups, ","))
	}
	args = append(args, "--", o.Name)
	if err := x.runTool(ctx, "useradd", args...); err != nil {
		return "", nil, err
	}
	u, ok, err := lookupUser(root, o.Name)
	if err != nil || !ok {
		return "", nil, fmt.Errorf("useradd succeeded but %q is not in /etc/passwd: %v", o.Name, err)
	}
	return fmt.Sprintf("created user %s (uid %d)", u.Name, u.UID),
		map[string]any{"uid": u.UID, "home": u.Home, "shell": u.Shell}, nil
}

// userLock locks (lock=true) or unlocks a password. Both are idempotent:
// an account already in the wanted state is left alone.
func (x *Executor) userLock(ctx context.Context, name string, lock bool) (string, map[string]any, error) {
	root := x.root()
	if _, err := x.mutableUser(name); err != nil {
		return "", nil, err
	}
	locked, err := readShadowLocked(root)
	if err != nil {
		return "", nil, err
	}
	verb, flag := "unlocked", "-U"
	if lock {
		verb, flag = "locked", "-L"
	}
	if locked[name] == lock {
		return fmt.Sprintf("user %s already %s; nothing changed", name, verb), map[string]any{"changed": false}, nil
	}
	if err := x.runTool(ctx, "usermod", flag, "--", name); err != nil {
		return "", nil, err
	}
	// usermod -U exits 0 yet changes nothing when unlocking would leave an
	// empty password; read the result back rather than trust the status.
	after, err := readShadowLocked(root)
	if err != nil {
		return "", nil, err
	}
	if after[name] != lock {
		if !lock {
			return "", nil, fmt.Errorf("user %s is still locked: it has no password, and unlocking would make it passwordless", name)
		}
		return "", nil, fmt.Errorf("usermod -L ran but user %s is not locked", name)
	}
	return fmt.Sprintf("user %s %s", name, verb), map[string]any{"changed": true}, nil
}

func (x *Executor) userDelete(ctx context.Context, o ops.UserDelete) (string, map[string]any, error) {
	root := x.root()
	u, ok, err := lookupUser(root, o.Name)
	if err != nil {
		return "", nil, err
	}
	if !ok {
		return fmt.Sprintf("user %s does not exist; nothing changed", o.Name), map[string]any{"changed": false}, nil
	}
	if err := checkMutable(u); err != nil {
		return "", nil, err
	}
	args := []string{"--", o.Name}
	if o.RemoveHome {
		if err := checkRemovableHome(root, u); err != nil {
			return "", nil, err
		}
		args = append([]string{"-r"}, args...)
	}
	if err := x.runTool(ctx, "userdel", args...); err != nil {
		return "", nil, err
	}
	s := "deleted user " + o.Name
	if o.RemoveHome {
		s += " and its home " + u.Home
	}
	return s, map[string]any{"changed": true, "uid": u.UID}, nil
}

// checkRemovableHome stops userdel -r from deleting a directory that is not
// clearly this user's own: "/", a top-level directory, or a home shared
// with another account.
func checkRemovableHome(root string, u passwdEntry) error {
	home := filepath.Clean("/" + u.Home)
	if !filepath.IsAbs(u.Home) || strings.Count(home, "/") < 2 {
		return refuse("home directory %q of %s is not a per-user directory; not removing it", u.Home, u.Name)
	}
	users, err := readPasswd(root)
	if err != nil {
		return err
	}
	for _, other := range users {
		if other.Name != u.Name && filepath.Clean("/"+other.Home) == home {
			return refuse("home directory %q of %s is shared with %s; not removing it", u.Home, u.Name, other.Name)
		}
	}
	return nil
}
