package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nexplane/nexplane/store"
)

// A guessable SECRET_KEY, or a key file others can read, is a configuration
// error: one line, exit status 2.
func TestSecretKeyRefusals(t *testing.T) {
	keyFile := func(t *testing.T, mode os.FileMode) string {
		p := filepath.Join(t.TempDir(), "secret-key")
		if err := os.WriteFile(p, []byte(testSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		env  func(t *testing.T) map[string]string
		want string // "" means accepted
	}{
		{"one byte repeated", func(*testing.T) map[string]string {
			return map[string]string{"SECRET_KEY": strings.Repeat("k", 48)}
		}, "distinct bytes"},
		{"15 distinct bytes", func(*testing.T) map[string]string {
			return map[string]string{"SECRET_KEY": strings.Repeat("0123456789abcde", 3)}
		}, "distinct bytes"},
		{"16 distinct bytes", func(*testing.T) map[string]string {
			return map[string]string{"SECRET_KEY": strings.Repeat("0123456789abcdef", 3)}
		}, ""},
		{"file readable by group", func(t *testing.T) map[string]string {
			return map[string]string{"SECRET_KEY": "", "SECRET_KEY_FILE": keyFile(t, 0o640)}
		}, "readable by group or others"},
		{"file readable by others", func(t *testing.T) map[string]string {
			return map[string]string{"SECRET_KEY": "", "SECRET_KEY_FILE": keyFile(t, 0o604)}
		}, "readable by group or others"},
		{"previous file readable by group", func(t *testing.T) map[string]string {
			return map[string]string{"SECRET_KEY_PREVIOUS_FILE": keyFile(t, 0o644)}
		}, "readable by group or others"},
		{"file for the owner only", func(t *testing.T) map[string]string {
			return map[string]string{"SECRET_KEY": "", "SECRET_KEY_FILE": keyFile(t, 0o400)}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			for k, v := range tc.env(t) {
				c.env[k] = v
			}
			_, err := loadConfig(c.getenv, newFlagSet("t", io.Discard), nil, true)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			// A configuration error is what run turns into exit status 2.
			if !isConfigErr(err) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("loadConfig = %v; want a one-line configuration error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Error("the error shows the key")
			}
		})
	}
}

// The data directory the CLI creates is 0700 and the database files 0600,
// under the usual umask 022 that would leave them readable by everyone.
func TestDataDirAndDatabaseArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	c := newCLI(t)
	dir := filepath.Join(t.TempDir(), "data")
	c.env["NEXPLANE_DATA_DIR"] = dir
	if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", "ops@example.com", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatalf("user create: %d %s", code, stderr)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o700 {
		t.Errorf("data dir mode %o, want 700", m)
	}
	db := filepath.Join(dir, store.SQLiteFile)
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		st, err := os.Stat(p)
		if os.IsNotExist(err) && p != db {
			continue // checkpointed away
		}
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("%s mode %o, want 600", filepath.Base(p), m)
		}
	}
}
