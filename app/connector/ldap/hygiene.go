package ldap

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Hygiene rules of LDAP connectors.
const (
	RulePasswordTooOld      = "ldap.user.password_too_old"
	RuleLockedButPrivileged = "ldap.user.locked_but_privileged"
)

var (
	_ app.HygieneRules = Driver{}
	_ app.Revoker      = Driver{}
)

// policy is the part of the config the hygiene rules read.
type policy struct {
	maxAge     time.Duration
	maxAgeDays int
	privileged map[string]bool // lower-case cns
}

// policyOf reads the rules' settings leniently: the stored config is
// already validated, and a rule run must not fail on it; anything missing
// or out of range takes the default.
func policyOf(raw json.RawMessage) policy {
	var c struct {
		PasswordMaxAgeDays *int      `json:"password_max_age_days"`
		PrivilegedGroups   *[]string `json:"privileged_groups"`
	}
	_ = json.Unmarshal(raw, &c)
	p := policy{maxAgeDays: DefaultPasswordMaxAgeDays, privileged: map[string]bool{}}
	if c.PasswordMaxAgeDays != nil && *c.PasswordMaxAgeDays >= 1 && *c.PasswordMaxAgeDays <= maxPasswordMaxAgeDays {
		p.maxAgeDays = *c.PasswordMaxAgeDays
	}
	p.maxAge = time.Duration(p.maxAgeDays) * 24 * time.Hour
	groups := DefaultPrivilegedGroups
	if c.PrivilegedGroups != nil {
		groups = *c.PrivilegedGroups
	}
	for _, g := range groups {
		p.privileged[strings.ToLower(g)] = true
	}
	return p
}

// userAttrs is what the rules read of an ldap.user asset's attributes.
type userAttrs struct {
	UID             string   `json:"uid"`
	Locked          bool     `json:"locked"`
	LockedSince     *string  `json:"locked_since"`
	PasswordChanged *string  `json:"password_changed"`
	Groups          []string `json:"groups"`
}

// Findings judges the ldap.user assets of one connector: a password older
// than password_max_age_days (only when its change time is known), and a
// locked account still in one of privileged_groups. It is pure: the same
// input gives the same drafts in the same order.
func (Driver) Findings(config json.RawMessage, assets []app.Asset, now time.Time) []app.FindingDraft {
	p := policyOf(config)
	var out []app.FindingDraft
	for i := range assets {
		a := &assets[i]
		if a.Kind != KindUser {
			continue
		}
		var u userAttrs
		if err := json.Unmarshal(a.Attributes, &u); err != nil {
			continue
		}
		who := a.Name
		if u.UID != "" {
			who = "uid=" + u.UID
		}
		if u.PasswordChanged != nil {
			if changed, err := time.Parse(time.RFC3339, *u.PasswordChanged); err == nil && now.Sub(changed) > p.maxAge {
				f := app.FindingDraft{
					AssetID:  a.ID,
					Rule:     RulePasswordTooOld,
					Severity: app.SeverityMedium,
					Message: fmt.Sprintf("The password of %s was last changed on %s, %d days ago; the policy is at most %d days.",
						who, changed.UTC().Format("2006-01-02"), int(now.Sub(changed)/(24*time.Hour)), p.maxAgeDays),
				}
				if validateUID(u.UID) == nil {
					f.RemedyType, f.RemedyParams = "ldap.user.reset_password", mustParams(map[string]string{"uid": u.UID})
				}
				out = append(out, f)
			}
		}
		if u.Locked {
			var privileged []string
			for _, g := range u.Groups { // sorted by Inventory
				if p.privileged[strings.ToLower(g)] {
					privileged = append(privileged, g)
				}
			}
			if len(privileged) > 0 {
				since := ""
				if u.LockedSince != nil {
					since = " (pwdAccountLockedTime " + *u.LockedSince + ")"
				}
				f := app.FindingDraft{
					AssetID:  a.ID,
					Rule:     RuleLockedButPrivileged,
					Severity: app.SeverityHigh,
					Message: fmt.Sprintf("%s is locked%s but still a member of the privileged %s %s; remove it so an unlock does not restore privileged access unnoticed.",
						who, since, plural(len(privileged), "group", "groups"), strings.Join(privileged, ", ")),
				}
				if validateUID(u.UID) == nil && validateGroup("group", privileged[0]) == nil {
					f.RemedyType, f.RemedyParams = "ldap.group.remove_member", mustParams(map[string]string{"group": privileged[0], "uid": u.UID})
				}
				out = append(out, f)
			}
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func mustParams(m map[string]string) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return b
}

// RevokeOperation revokes an LDAP account by locking it (ldap.user.disable);
// groups are not credentials and are not revocable.
func (Driver) RevokeOperation(a *app.Asset) (string, json.RawMessage, bool) {
	if a == nil || a.Kind != KindUser {
		return "", nil, false
	}
	var u userAttrs
	if err := json.Unmarshal(a.Attributes, &u); err != nil || validateUID(u.UID) != nil {
		return "", nil, false
	}
	return "ldap.user.disable", mustParams(map[string]string{"uid": u.UID}), true
}
