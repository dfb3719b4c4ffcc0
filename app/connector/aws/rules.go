package aws

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Hygiene rule names.
const (
	RuleKeyTooOld        = "aws.access_key.too_old"
	RuleKeyUnused        = "aws.access_key.unused"
	RuleKeyInactive      = "aws.access_key.inactive_not_deleted"
	RuleUserOverPrivileg = "aws.user.over_privileged"
)

// adminPolicyRE matches the AWS-managed policies that amount to full
// control of the account. Only AWS-managed ARNs count: a customer policy
// that happens to be called AdministratorAccess may grant anything.
var adminPolicyRE = regexp.MustCompile(`^arn:aws[\w-]*:iam::aws:policy/(AdministratorAccess|IAMFullAccess)$`)

func isAdminPolicy(arn string) bool { return adminPolicyRE.MatchString(arn) }

// keyAttrs and userAttrs are the attributes Inventory writes that the
// rules read.
type keyAttrs struct {
	UserName string  `json:"user_name"`
	Status   string  `json:"status"`
	Created  string  `json:"created"`
	LastUsed *string `json:"last_used"`
}

type userAttrs struct {
	UserName         string   `json:"user_name"`
	AttachedPolicies []string `json:"attached_policies"`
	InlinePolicies   []string `json:"inline_policies"`
	InlineAdmin      bool     `json:"inline_admin"`
}

// Findings judges one connector's assets. It is a pure function of its
// inputs; a config that no longer validates falls back to the defaults
// rather than silencing every rule.
func (Driver) Findings(config json.RawMessage, assets []app.Asset, now time.Time) []app.FindingDraft {
	rotation, unused := DefaultRotationDays, DefaultUnusedDays
	if cfg, err := parseConfig(config); err == nil {
		rotation, unused = cfg.RotationDays, cfg.UnusedDays
	}
	var out []app.FindingDraft
	for i := range assets {
		a := &assets[i]
		if !a.GoneAt.IsZero() {
			continue
		}
		switch a.Kind {
		case KindAccessKey:
			out = append(out, keyFindings(a, rotation, unused, now)...)
		case KindUser:
			if f, ok := userFinding(a); ok {
				out = append(out, f)
			}
		}
	}
	return out
}

func daysSince(now time.Time, ts string) (int, bool) {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return 0, false
	}
	return int(now.Sub(t).Hours() / 24), true
}

func keyParams(user, id string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"user_name": user, "access_key_id": id})
	return b
}

func keyFindings(a *app.Asset, rotation, unused int, now time.Time) []app.FindingDraft {
	var k keyAttrs
	if json.Unmarshal(a.Attributes, &k) != nil || k.UserName == "" {
		return nil
	}
	id := a.ExternalID
	params := keyParams(k.UserName, id)
	if k.Status == "Inactive" {
		// An inactive key is harmless until someone activates it again;
		// age and use no longer matter, only that it should go.
		return []app.FindingDraft{{AssetID: a.ID, Rule: RuleKeyInactive, Severity: app.SeverityLow,
			Message:    fmt.Sprintf("Access key %s of IAM user %s is inactive but not deleted; delete it so it cannot be re-activated.", id, k.UserName),
			RemedyType: "aws.iam.access_key.delete", RemedyParams: params}}
	}
	var out []app.FindingDraft
	age, ok := daysSince(now, k.Created)
	if ok && age >= rotation {
		out = append(out, app.FindingDraft{AssetID: a.ID, Rule: RuleKeyTooOld, Severity: app.SeverityMedium,
			Message:    fmt.Sprintf("Access key %s of IAM user %s is %d days old; the rotation policy is %d days.", id, k.UserName, age, rotation),
			RemedyType: "aws.iam.access_key.rotate", RemedyParams: params})
	}
	switch {
	case k.LastUsed == nil || *k.LastUsed == "":
		if ok && age >= unused {
			out = append(out, app.FindingDraft{AssetID: a.ID, Rule: RuleKeyUnused, Severity: app.SeverityMedium,
				Message:    fmt.Sprintf("Access key %s of IAM user %s has never been used in the %d days since it was created (limit: %d days).", id, k.UserName, age, unused),
				RemedyType: "aws.iam.access_key.deactivate", RemedyParams: params})
		}
	default:
		if idle, ok := daysSince(now, *k.LastUsed); ok && idle >= unused {
			out = append(out, app.FindingDraft{AssetID: a.ID, Rule: RuleKeyUnused, Severity: app.SeverityMedium,
				Message:    fmt.Sprintf("Access key %s of IAM user %s was last used %d days ago (limit: %d days).", id, k.UserName, idle, unused),
				RemedyType: "aws.iam.access_key.deactivate", RemedyParams: params})
		}
	}
	return out
}

// userFinding reports a user with administrator-level policies: one
// finding per user, remedied by detaching the first such managed policy
// (an inline one has no remedy operation; its name is in the message).
func userFinding(a *app.Asset) (app.FindingDraft, bool) {
	var u userAttrs
	if json.Unmarshal(a.Attributes, &u) != nil || u.UserName == "" {
		return app.FindingDraft{}, false
	}
	var admin []string
	for _, p := range u.AttachedPolicies {
		if isAdminPolicy(p) {
			admin = append(admin, p)
		}
	}
	if len(admin) == 0 && !u.InlineAdmin {
		return app.FindingDraft{}, false
	}
	var why []string
	if len(admin) > 0 {
		why = append(why, "attached "+strings.Join(admin, " and "))
	}
	if u.InlineAdmin {
		why = append(why, "an inline policy (of "+strings.Join(u.InlinePolicies, ", ")+") allows every action on every resource")
	}
	f := app.FindingDraft{AssetID: a.ID, Rule: RuleUserOverPrivileg, Severity: app.SeverityHigh,
		Message: fmt.Sprintf("IAM user %s is over-privileged: %s.", u.UserName, strings.Join(why, "; "))}
	if len(admin) > 0 {
		f.RemedyType = "aws.iam.user_policy.detach"
		f.RemedyParams, _ = json.Marshal(map[string]string{"user_name": u.UserName, "policy_arn": admin[0]})
	}
	return f, true
}

// RevokeOperation names the operation that revokes an access key:
// deactivation, which is immediate and reversible.
func (Driver) RevokeOperation(a *app.Asset) (string, json.RawMessage, bool) {
	if a == nil || a.Kind != KindAccessKey {
		return "", nil, false
	}
	var k keyAttrs
	if json.Unmarshal(a.Attributes, &k) != nil || k.UserName == "" || !accessKeyRE.MatchString(a.ExternalID) {
		return "", nil, false
	}
	return "aws.iam.access_key.deactivate", keyParams(k.UserName, a.ExternalID), true
}
