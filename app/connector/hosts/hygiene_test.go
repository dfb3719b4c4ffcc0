package hosts

import (
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// TestRules checks each hygiene rule on its own: when it fires, and when it
// offers the key's removal.
func TestRules(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	const agentID = "00000000000000a1"
	fp := "SHA256:" + strings.Repeat("A", 43)
	x := hostIndex{hosts: map[string]hostAttrs{agentID: {Hostname: "web-1", Status: "online"}},
		byName: map[string]int{"web-1": 1}, users: map[string]userAttrs{}}
	key := func(user userAttrs, hasUser bool, firstSeen time.Time) sshKey {
		return sshKey{asset: &app.Asset{ID: 4, FirstSeen: firstSeen}, agentID: agentID, user: user, hasUser: hasUser,
			attrs: keyAttrs{User: user.User, Fingerprint: fp, Type: "ssh-ed25519"}}
	}
	alice := userAttrs{User: "alice", UID: 1001}
	lockedAlice := userAttrs{User: "alice", UID: 1001, Locked: true}
	tests := []struct {
		name       string
		rule       func() (app.FindingDraft, bool)
		fires      bool
		withRemedy bool
	}{
		{"uid 0 other than root", func() (app.FindingDraft, bool) {
			return ruleUID0NotRoot(&app.Asset{ID: 3}, userAttrs{User: "toor", UID: 0}, "web-1")
		}, true, false},
		{"root itself", func() (app.FindingDraft, bool) {
			return ruleUID0NotRoot(&app.Asset{ID: 3}, userAttrs{User: "root", UID: 0}, "web-1")
		}, false, false},
		{"key on locked user", func() (app.FindingDraft, bool) {
			return ruleKeyOnLockedUser(x, key(lockedAlice, true, now))
		}, true, true},
		{"key on unlocked user", func() (app.FindingDraft, bool) {
			return ruleKeyOnLockedUser(x, key(alice, true, now))
		}, false, false},
		{"key on user without password", func() (app.FindingDraft, bool) {
			return ruleKeyOnLockedUser(x, key(userAttrs{User: "alice", UID: 1001, Locked: true, NoPassword: true}, true, now))
		}, false, false},
		{"key on locked system account has no remedy", func() (app.FindingDraft, bool) {
			return ruleKeyOnLockedUser(x, key(userAttrs{User: "svc", UID: 999, Locked: true}, true, now))
		}, true, false},
		{"key older than the policy", func() (app.FindingDraft, bool) {
			return ruleKeyTooOld(x, key(alice, true, now.AddDate(0, 0, -31)), now, 30)
		}, true, true},
		{"key of a user missing from the inventory has no remedy", func() (app.FindingDraft, bool) {
			return ruleKeyTooOld(x, key(alice, false, now.AddDate(0, 0, -31)), now, 30)
		}, true, false},
		{"key at the policy's age", func() (app.FindingDraft, bool) {
			return ruleKeyTooOld(x, key(alice, true, now.AddDate(0, 0, -30)), now, 30)
		}, false, false},
		{"key never seen", func() (app.FindingDraft, bool) {
			return ruleKeyTooOld(x, key(alice, true, time.Time{}), now, 30)
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, fired := tt.rule()
			if fired != tt.fires {
				t.Fatalf("fired = %v, want %v (%+v)", fired, tt.fires, f)
			}
			if !fired {
				return
			}
			if f.Message == "" || f.Rule == "" || f.Severity == "" {
				t.Errorf("finding lacks rule, severity or message: %+v", f)
			}
			if got := f.RemedyType != ""; got != tt.withRemedy {
				t.Errorf("remedy %q %s, want one: %v", f.RemedyType, f.RemedyParams, tt.withRemedy)
			}
			if tt.withRemedy && string(f.RemedyParams) != `{"fingerprint":"`+fp+`","host":"web-1","user":"alice"}` {
				t.Errorf("remedy params = %s", f.RemedyParams)
			}
		})
	}
}
