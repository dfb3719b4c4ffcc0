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
