package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIArguments(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	fp := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		code    int
		out     string
		errPart string
	}{
		{args: []string{"version"}, code: 0, out: "nexplane-agent dev\n"},
		{args: []string{"help"}, code: 0, out: "usage:"},
		{args: nil, code: 2, errPart: "no command given"},
		{args: []string{"frobnicate"}, code: 2, errPart: `unknown command "frobnicate"`},
		{args: []string{"enroll"}, code: 2, errPart: "--server is required"},
		{args: []string{"enroll", "--server", "https://x", "--ca-sha256", fp}, code: 2, errPart: "--token is required"},
		{args: []string{"enroll", "--server", "https://x", "--token", "t"}, code: 2, errPart: "--ca-sha256 is required"},
		{args: []string{"enroll", "--bogus"}, code: 2, errPart: "flag provided but not defined"},
		{args: []string{"run", "extra"}, code: 2, errPart: `unexpected argument "extra"`},
		{args: []string{"enroll", "--server", "http://x", "--token", "t", "--ca-sha256", fp, "--state-dir", dir}, code: 1, errPart: "https://"},
		{args: []string{"enroll", "--server", "https://x", "--token", "t", "--ca-sha256", "zz", "--state-dir", dir}, code: 1, errPart: "not a hex SHA-256"},
		// Token and server from the environment; the connection fails (nothing listens on port 1).
		{args: []string{"enroll", "--ca-sha256", fp, "--state-dir", dir}, env: map[string]string{"NEXPLANE_AGENT_SERVER": "https://127.0.0.1:1", "NEXPLANE_AGENT_TOKEN": "t"}, code: 1, errPart: "connection refused"},
		{args: []string{"status", "--state-dir", dir}, code: 1, errPart: "not enrolled"},
		{args: []string{"run"}, env: map[string]string{"NEXPLANE_AGENT_STATE_DIR": dir}, code: 1, errPart: "not enrolled"},
		{args: []string{"run", "--state-dir", dir, "--config", filepath.Join(dir, "missing.conf")}, code: 1, errPart: "not enrolled"},
	} {
		code, out, errOut := runCLI(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errOut, tc.errPart) {
			t.Errorf("%v: code %d out %q err %q; want %d, %q, %q", tc.args, code, out, errOut, tc.code, tc.out, tc.errPart)
		}
		if tc.code != 0 {
			// One line per error (slog lines aside).
			if lines := strings.Count(strings.TrimSpace(lastLine(errOut)), "\n"); lines != 0 || !strings.HasPrefix(lastLine(errOut), "nexplane-agent: ") {
				t.Errorf("%v: error output %q", tc.args, errOut)
			}
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
