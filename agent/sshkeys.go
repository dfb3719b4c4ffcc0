package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/nexplane/nexplane/agent/ops"
)

// maxAuthorizedKeysBytes caps the authorized_keys file the agent reads.
const maxAuthorizedKeysBytes = 1 << 20

const (
	sshDir         = ".ssh"
	authorizedKeys = ".ssh/authorized_keys"
)

func (x *Executor) sshKeyAdd(o ops.SSHKeyAdd) (string, map[string]any, error) {
	key, err := ops.ParsePublicKey(o.PublicKey)
	if err != nil {
		return "", nil, refuse("public_key: %v", err)
	}
	// A key for a member of sudo or docker is root for whoever holds it.
	u, err := x.mutableUser(o.User)
	if err != nil {
		return "", nil, err
	}
	if err := x.checkMemberships(u, "adding an SSH key for "+o.User); err != nil {
		return "", nil, err
	}
	changed, err := x.editAuthorizedKeys(o.User, func(lines []string) ([]string, bool) {
		for _, l := range lines {
			if k, ok, _ := ops.ParseAuthorizedKeysLine(l); ok && k.Fingerprint == key.Fingerprint {
				return lines, false
			}
		}
		return append(lines, key.Line()), true
	})
	if err != nil {
		return "", nil, err
	}
	d := map[string]any{"changed": changed, "fingerprint": key.Fingerprint}
	if !changed {
		return fmt.Sprintf("key %s already authorized for %s; nothing changed", key.Fingerprint, o.User), d, nil
	}
	return fmt.Sprintf("added key %s for %s", key.Fingerprint, o.User), d, nil
}

func (x *Executor) sshKeyRemove(o ops.SSHKeyRemove) (string, map[string]any, error) {
	removed := 0
	_, err := x.editAuthorizedKeys(o.User, func(lines []string) ([]string, bool) {
		var keep []string
		for _, l := range lines {
			// Unparseable lines are kept: the agent only removes what it
			// can prove is the key asked for.
			if k, ok, _ := ops.ParseAuthorizedKeysLine(l); ok && k.Fingerprint == o.Fingerprint {
				removed++
				continue
			}
			keep = append(keep, l)
		}
		return keep, removed > 0
	})
	if err != nil {
		return "", nil, err
	}
	d := map[string]any{"changed": removed > 0, "removed_lines": removed}
	if removed == 0 {
		return fmt.Sprintf("key %s not authorized for %s; nothing changed", o.Fingerprint, o.User), d, nil
	}
	return fmt.Sprintf("removed key %s from %s", o.Fingerprint, o.User), d, nil
}

// editAuthorizedKeys applies edit to the lines of the user's
// authorized_keys and, when edit reports a change, replaces the file
// atomically: temp file in the same directory, fsync, mode 0600, owner set,
// rename, directory fsync. A crash leaves the old or the new file, never a
// half-written one.
//
// All access goes through an os.Root opened at the user's home, so a
// symlink the user planted (~/.ssh -> /etc) cannot make the agent, running
// as root, write outside that home.
func (x *Executor) editAuthorizedKeys(user string, edit func([]string) ([]string, bool)) (bool, error) {
	u, err := x.mutableUser(user)
	if err != nil {
		return false, err
	}
	home, err := os.OpenRoot(sysPath(x.root(), u.Home))
	if err != nil {
		return false, refuse("home directory of %s: %v", user, err)
	}
	defer home.Close()
	if err := ensureSSHDir(home, u); err != nil {
		return false, err
	}
	old, err := readAuthorizedKeys(home)
	if err != nil {
		return false, err
	}
	var lines []string
	if len(old) > 0 {
		lines = strings.Split(strings.TrimSuffix(string(old), "\n"), "\n")
	}
	lines, changed := edit(lines)
	if !changed {
		return false, nil
	}
	content := strings.Join(lines, "\n")
	if content != "" {
		content += "\n"
	}
	if err := writeAtomic(home, authorizedKeys, []byte(content), u); err != nil {
		return false, fmt.Errorf("write authorized_keys of %s: %w", user, err)
	}
	return true, nil
}

// ensureSSHDir makes ~/.ssh a real directory, mode 0700, owned by the user.
func ensureSSHDir(home *os.Root, u passwdEntry) error {
	fi, err := home.Lstat(sshDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := home.Mkdir(sshDir, 0o700); err != nil {
			return fmt.Errorf("create ~/.ssh of %s: %w", u.Name, err)
		}
	case err != nil:
		return fmt.Errorf("~/.ssh of %s: %w", u.Name, err)
	case !fi.IsDir():
		return refuse("~/.ssh of %s is not a directory (a symlink?); not touching it", u.Name)
	}
	if err := home.Chmod(sshDir, 0o700); err != nil {
		return fmt.Errorf("chmod ~/.ssh of %s: %w", u.Name, err)
	}
	if err := home.Lchown(sshDir, u.UID, u.GID); err != nil {
		return fmt.Errorf("chown ~/.ssh of %s: %w", u.Name, err)
	}
	return nil
}

func readAuthorizedKeys(home *os.Root) ([]byte, error) {
	fi, err := home.Lstat(authorizedKeys)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("authorized_keys: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, refuse("authorized_keys is not a regular file (a symlink?); not touching it")
	}
	f, err := home.Open(authorizedKeys)
	if err != nil {
		return nil, fmt.Errorf("authorized_keys: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAuthorizedKeysBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read authorized_keys: %w", err)
	}
	if len(b) > maxAuthorizedKeysBytes {
		return nil, refuse("authorized_keys is larger than %d bytes", maxAuthorizedKeysBytes)
	}
	return b, nil
}

// writeAtomic replaces name inside dir with data, owned by u, mode 0600.
func writeAtomic(dir *os.Root, name string, data []byte, u passwdEntry) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := name + ".nexplane-" + hex.EncodeToString(rnd[:])
	f, err := dir.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			_ = dir.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil { // the umask must not widen it
		return err
	}
	if err := f.Chown(u.UID, u.GID); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := dir.Rename(tmp, name); err != nil {
		return err
	}
	ok = true
	// Persist the rename itself.
	if d, err := dir.Open(sshDir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
