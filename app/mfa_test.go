package app

import (
	"strings"
	"testing"
)

func TestMFAPolicyCovers(t *testing.T) {
	for _, tc := range []struct {
		policy string
		covers map[Role]bool
	}{
		{"off", map[Role]bool{}},
		{"admins", map[Role]bool{RoleAdmin: true}},
		{"everyone", map[Role]bool{RoleAdmin: true, RoleOperator: true, RoleApprover: true, RoleViewer: true}},
	} {
		p, err := ParseMFAPolicy(tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range Roles {
			if got := p.Covers(r); got != tc.covers[r] {
				t.Errorf("%s covers %s = %v", tc.policy, r, got)
			}
		}
	}
	for _, bad := range []string{"", "on", "Admins", "all"} {
		if _, err := ParseMFAPolicy(bad); ErrCode(err) != EINVALID {
			t.Errorf("ParseMFAPolicy(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, err := newRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 19 || strings.Count(c, "-") != 3 || looksLikeTOTP(c) {
			t.Errorf("code %q has the wrong shape", c)
		}
		if seen[c] {
			t.Errorf("duplicate code %q", c)
		}
		seen[c] = true
		// Typed with other case, spaces or without dashes, it still matches.
		variant := strings.ToUpper(strings.ReplaceAll(c, "-", " "))
		if RecoveryCodeHash(variant) != RecoveryCodeHash(c) {
			t.Errorf("%q and %q hash differently", variant, c)
		}
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
}
