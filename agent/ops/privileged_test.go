package ops

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestPrivilegedGroups(t *testing.T) {
	for _, tc := range []struct {
		name        string
		groups      []string
		extra       []string
		want        []string
		wantSummary string
	}{
		{"ordinary groups", []string{"users", "dev"}, nil, nil, "in groups users, dev"},
		{"sudo", []string{"dev", "sudo"}, nil, []string{"sudo"}, "in groups dev, sudo (PRIVILEGED, root-equivalent: sudo)"},
		{"every default", []string{"wheel", "admin", "adm", "docker", "lxd", "disk", "kvm", "systemd-journal"}, nil,
			[]string{"wheel", "admin", "adm", "docker", "lxd", "disk", "kvm", "systemd-journal"}, "PRIVILEGED"},
		{"host extra", []string{"dev", "backup-ops"}, []string{"backup-ops"}, []string{"backup-ops"}, "in groups dev, backup-ops"},
	} {
		o := UserCreate{Name: "bob", Groups: tc.groups, Shell: "/bin/sh"}
		if err := o.Validate(); err != nil {
			t.Errorf("%s: Validate: %v (the agent's policy decides these, not the wire format)", tc.name, err)
		}
		if got := o.PrivilegedGroups(tc.extra); !slices.Equal(got, tc.want) {
			t.Errorf("%s: PrivilegedGroups = %v, want %v", tc.name, got, tc.want)
		}
		if s := o.Summary(); !strings.Contains(s, tc.wantSummary) {
			t.Errorf("%s: Summary = %q, want it to contain %q", tc.name, s, tc.wantSummary)
		}
	}
}

// TestGroupsNeverGranted: root and shadow, and groups named by number (which
// useradd -G would take as a gid, such as 0), are refused before any
// change request exists, whatever a host allows.
func TestGroupsNeverGranted(t *testing.T) {
	for _, g := range []string{"root", "shadow", "0", "27", "-0"} {
		_, err := Decode(TypeUserCreate, json.RawMessage(`{"name":"bob","shell":"/bin/sh","groups":["`+g+`"]}`))
		if err == nil {
			t.Errorf("group %q accepted", g)
		}
	}
	if !NeverGrantedGroup("root") || !NeverGrantedGroup("shadow") || NeverGrantedGroup("sudo") {
		t.Error("NeverGrantedGroup")
	}
	if !IsRootEquivalentGroup("root") || IsRootEquivalentGroup("users") {
		t.Error("IsRootEquivalentGroup")
	}
}
