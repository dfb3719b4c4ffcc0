package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDropTornLine: a crash in the middle of a witness append leaves bytes
// after the last newline; the next start removes exactly those and keeps
// every complete line, so the server can start and later lines stay whole.
func TestDropTornLine(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
		dropped             int64
	}{
		{"missing", "", "", 0},
		{"whole lines", "{\"seq\":1}\n{\"seq\":2}\n", "{\"seq\":1}\n{\"seq\":2}\n", 0},
		{"torn last line", "{\"seq\":1}\n{\"seq\":2,\"ha", "{\"seq\":1}\n", 12},
		{"only a torn line", "{\"se", "", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "witness.jsonl")
			if tc.name != "missing" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			n, err := dropTornLine(path)
			if err != nil || n != tc.dropped {
				t.Fatalf("dropTornLine = %d, %v; want %d", n, err, tc.dropped)
			}
			if tc.name == "missing" {
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Fatalf("a missing witness was created: %v", err)
				}
				return
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tc.want {
				t.Fatalf("witness now %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
