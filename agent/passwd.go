package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxDBBytes caps how much of /etc/passwd and friends the agent reads.
const maxDBBytes = 16 << 20

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	Name  string
	UID   int
	GID   int
	Gecos string
	Home  string
	Shell string
}

// sysPath joins the system root with an absolute path from a system file.
func sysPath(root, p string) string {
	return filepath.Join(root, filepath.Clean("/"+p))
}

func readDB(root, name string) ([]byte, error) {
	p := sysPath(root, name)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > maxDBBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", p, maxDBBytes)
	}
	return b, nil
}

// colonLines yields the colon-separated fields of each non-comment line.
func colonLines(b []byte, fn func(f []string)) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-") {
			continue // NIS compat lines are not local accounts
		}
		fn(strings.Split(line, ":"))
	}
}

// readPasswd parses <root>/etc/passwd; malformed lines are skipped.
func readPasswd(root string) ([]passwdEntry, error) {
	b, err := readDB(root, "/etc/passwd")
	if err != nil {
		return nil, err
	}
	var out []passwdEntry
	colonLines(b, func(f []string) {
		if len(f) != 7 {
			return
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			return
		}
		out = append(out, passwdEntry{Name: f[0], UID: uid, GID: gid, Gecos: f[4], Home: f[5], Shell: f[6]})
	})
	return out, nil
}

func lookupUser(root, name string) (passwdEntry, bool, error) {
	users, err := readPasswd(root)
	if err != nil {
		return passwdEntry{}, false, err
	}
	for _, u := range users {
		if u.Name == name {
			return u, true, nil
		}
	}
	return passwdEntry{}, false, nil
}

// readShadowNoPassword maps user name -> no password set at all: the field
// holds no hash once the lock marks are removed ("!", "!!", "*").
func readShadowNoPassword(root string) (map[string]bool, error) {
	return readShadow(root, func(pw string) bool {
		rest := strings.TrimLeft(pw, "!")
		return rest == "" || rest == "*"
	})
}

// readShadowLocked maps user name -> password locked ("!" prefix, as
// usermod -L writes it).
func readShadowLocked(root string) (map[string]bool, error) {
	return readShadow(root, func(pw string) bool { return strings.HasPrefix(pw, "!") })
}

// readShadow maps each user name in /etc/shadow to test(password field). A
// missing shadow file means nothing is known.
func readShadow(root string, test func(pw string) bool) (map[string]bool, error) {
	b, err := readDB(root, "/etc/shadow")
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	colonLines(b, func(f []string) {
		if len(f) >= 2 {
			out[f[0]] = test(f[1])
		}
	})
	return out, nil
}
