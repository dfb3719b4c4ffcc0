package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
)

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy("# narrow this host\n\nallow = host.user.lock, host.user.unlock , host.facts.refresh # trailing\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Allowed(); !slices.Equal(got, []string{ops.TypeUserLock, ops.TypeUserUnlock, ops.TypeFactsRefresh}) {
		t.Errorf("Allowed = %v", got)
	}
	p, _ = ParsePolicy("deny = host.user.delete")
	if p.Allows(ops.TypeUserDelete) || !p.Allows(ops.TypeUserCreate) {
		t.Error("deny not applied")
	}
	p, _ = ParsePolicy("allow =")
	if len(p.Allowed()) != 0 {
		t.Error("empty allow should allow nothing")
	}
	p, _ = ParsePolicy("")
	if len(p.Allowed()) != len(ops.Types()) {
		t.Error("empty file should allow everything")
	}
	var nilPolicy *Policy
	if !nilPolicy.Allows(ops.TypeUserLock) {
		t.Error("nil policy refuses")
	}
	for text, want := range map[string]string{
		"alow = host.user.lock":           "unknown key",
		"allow host.user.lock":            "key = value",
		"allow = host.user.lock, host.rm": "unknown operation type",
		"allow = a\nallow = b":            "unknown operation type",
		"allow =\nallow =":                "twice",
	} {
		if _, err := ParsePolicy(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}

func TestLoadPolicy(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "agent.conf")
	if p, err := LoadPolicy(missing, false); err != nil || len(p.Allowed()) != len(ops.Types()) {
		t.Errorf("missing default file: %v", err)
	}
	if _, err := LoadPolicy(missing, true); err == nil {
		t.Error("missing explicit file accepted")
	}
	os.WriteFile(missing, []byte("allow = nope\n"), 0o644)
	if _, err := LoadPolicy(missing, false); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("bad file: %v", err)
	}
}

func TestParsePolicyPrivilegedGroups(t *testing.T) {
	var none *Policy
	if !none.IsPrivilegedGroup("sudo") || none.AllowsGroup("sudo") || none.IsPrivilegedGroup("dev") {
		t.Error("defaults: every root-equivalent group is privileged and none is allowed")
	}
	p, err := ParsePolicy("privileged_groups = backup-ops, ops-admin\nallow_privileged_groups = docker, backup-ops # this host runs containers\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		group              string
		privileged, allows bool
	}{
		{"sudo", true, false},
		{"docker", true, true},
		{"backup-ops", true, true},
		{"ops-admin", true, false},
		{"dev", false, false},
		{"root", true, false},
	} {
		if got := p.IsPrivilegedGroup(tc.group); got != tc.privileged {
			t.Errorf("IsPrivilegedGroup(%s) = %v", tc.group, got)
		}
		if got := p.AllowsGroup(tc.group); got != tc.allows {
			t.Errorf("AllowsGroup(%s) = %v", tc.group, got)
		}
	}
	if got := p.AllowedPrivilegedGroups(); !slices.Equal(got, []string{"backup-ops", "docker"}) {
		t.Errorf("AllowedPrivilegedGroups = %v", got)
	}
	if got := p.PrivilegedGroups(); !slices.Contains(got, "ops-admin") || !slices.Contains(got, "sudo") || !slices.IsSorted(got) {
		t.Errorf("PrivilegedGroups = %v", got)
	}
	// A policy that only narrows operation types allows no privileged group.
	if p, _ := ParsePolicy("deny = host.user.delete"); p.AllowsGroup("sudo") || len(p.AllowedPrivilegedGroups()) != 0 {
		t.Error("a policy without allow_privileged_groups allows a group")
	}

	for _, tc := range []struct{ text, want string }{
		{"allow_privileged_groups = root", "can never be granted"},
		{"allow_privileged_groups = shadow", "can never be granted"},
		{"allow_privileged_groups = dev", "not a root-equivalent group"},
		{"allow_privileged_groups = sudoo", "not a root-equivalent group"},
		{"allow_privileged_groups = Sudo", "must be"},
		{"privileged_groups = ../x", "must be"},
		{"privileged_group = wheel", "unknown key"},
	} {
		if _, err := ParsePolicy(tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}

// TestShippedPolicy: the agent.conf the package installs parses and, all
// comments, is exactly the defaults.
func TestShippedPolicy(t *testing.T) {
	p, err := LoadPolicy("../packaging/agent/agent.conf", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Allowed()) != len(ops.Types()) || len(p.AllowedPrivilegedGroups()) != 0 ||
		!slices.Equal(p.PrivilegedGroups(), (*Policy)(nil).PrivilegedGroups()) {
		t.Errorf("shipped policy is not the defaults: %v %v", p.Allowed(), p.AllowedPrivilegedGroups())
	}
	// Each commented-out example ("#key = …") is itself valid.
	b, _ := os.ReadFile("../packaging/agent/agent.conf")
	examples := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# ") && line != "#" {
			examples++
			if _, err := ParsePolicy(strings.TrimPrefix(line, "#")); err != nil {
				t.Errorf("example %q: %v", line, err)
			}
		}
	}
	if examples != 4 {
		t.Errorf("%d examples, want 4", examples)
	}
}
