package hosts

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
)

// Hygiene rules of agents connectors.
const (
	RuleKeyOnLockedUser = "host.ssh_key.on_locked_user"
	RuleUID0NotRoot     = "host.user.uid0_not_root"
	RuleKeyTooOld       = "host.ssh_key.too_old"
)

// maxAgeDaysOf reads ssh_key_max_age_days leniently: the stored config is
// already validated, and a rule run must not fail on it.
func maxAgeDaysOf(raw json.RawMessage) int {
	var c struct {
		SSHKeyMaxAgeDays *int `json:"ssh_key_max_age_days"`
	}
	_ = json.Unmarshal(raw, &c)
	if c.SSHKeyMaxAgeDays != nil && *c.SSHKeyMaxAgeDays >= 1 && *c.SSHKeyMaxAgeDays <= maxSSHKeyMaxAgeDays {
		return *c.SSHKeyMaxAgeDays
	}
	return DefaultSSHKeyMaxAgeDays
}

type hostAttrs struct {
	Hostname string `json:"hostname"`
	Status   string `json:"status"`
}

type userAttrs struct {
	User   string `json:"user"`
	UID    int    `json:"uid"`
	Locked bool   `json:"locked"`
	// NoPassword users were never given a password (useradd's "!"): their
	// keys are how they log in, so a key there is not on a locked account.
	NoPassword bool `json:"no_password"`
	SSHKeys    int  `json:"ssh_keys"`
}

type keyAttrs struct {
	User        string `json:"user"`
	Fingerprint string `json:"fingerprint"`
	Type        string `json:"type"`
	Comment     string `json:"comment"`
}

// agentOf is the agent id that starts a host.user or host.ssh_key external
// id ("<agent id>/<user>[/<fingerprint>]").
func agentOf(externalID string) string {
	id, _, _ := strings.Cut(externalID, "/")
	return id
}

// mutable reports whether the agent would change this user at all, so that
// a remedy is offered only where it can work.
func mutable(user string, uid int) bool {
	return ops.ValidateUserName(user) == nil && uid >= ops.MinUID && uid <= ops.MaxUID
}

// Findings judges one connector's hosts, users and keys: an SSH key of a
// user whose password is locked (the lock does not stop key logins), a
// user other than root with uid 0, and a key first seen longer ago than
// ssh_key_max_age_days. Hosts of revoked agents are out of Nexplane's hands
// and are not judged. It is pure: the same input gives the same drafts in
// the same order.
func (Driver) Findings(config json.RawMessage, assets []app.Asset, now time.Time) []app.FindingDraft {
	maxDays := maxAgeDaysOf(config)
	maxAge := time.Duration(maxDays) * 24 * time.Hour

	hosts := map[string]hostAttrs{} // by agent id
	byName := map[string]int{}      // live hosts per lower-case hostname
	users := map[string]userAttrs{} // by external id
	for i := range assets {
		a := &assets[i]
		switch a.Kind {
		case KindHost:
			var h hostAttrs
			if json.Unmarshal(a.Attributes, &h) == nil {
				hosts[a.ExternalID] = h
				if h.Status != app.AgentRevoked {
					byName[strings.ToLower(h.Hostname)]++
				}
			}
		case KindUser:
			var u userAttrs
			if json.Unmarshal(a.Attributes, &u) == nil {
				users[a.ExternalID] = u
			}
		}
	}
	// hostParam names a host in a remedy: its hostname when that is
	// unambiguous and usable as a parameter, else its agent id.
	hostParam := func(agentID string) string {
		h := hosts[agentID]
		if byName[strings.ToLower(h.Hostname)] == 1 && hostRE.MatchString(h.Hostname) {
			return h.Hostname
		}
		return agentID
	}
	hostName := func(agentID string) string {
		if h := hosts[agentID]; h.Hostname != "" {
			return h.Hostname
		}
		return "agent " + agentID
	}

	var out []app.FindingDraft
	for i := range assets {
		a := &assets[i]
		agentID := agentOf(a.ExternalID)
		h, known := hosts[agentID]
		if a.Kind == KindHost || !known || h.Status == app.AgentRevoked {
			continue
		}
		switch a.Kind {
		case KindUser:
			var u userAttrs
			if json.Unmarshal(a.Attributes, &u) != nil {
				continue
			}
			if u.UID == 0 && u.User != "root" {
				out = append(out, app.FindingDraft{
					AssetID: a.ID, Rule: RuleUID0NotRoot, Severity: app.SeverityHigh,
					Message: fmt.Sprintf("%s on %s has uid 0: it is root under another name. Nexplane does not change system accounts; remove it or give it its own uid on the host.",
						u.User, hostName(agentID)),
				})
			}
		case KindSSHKey:
			var k keyAttrs
			if json.Unmarshal(a.Attributes, &k) != nil {
				continue
			}
			u, hasUser := users[agentID+"/"+k.User]
			remedy := func(f *app.FindingDraft) {
				if hasUser && mutable(k.User, u.UID) && ops.ValidateFingerprint(k.Fingerprint) == nil {
					f.RemedyType = ops.TypeSSHKeyRemove
					f.RemedyParams = mustParams(map[string]string{"host": hostParam(agentID), "user": k.User, "fingerprint": k.Fingerprint})
				}
			}
			desc := keyDesc(k.Fingerprint, k.Type, k.Comment)
			if hasUser && u.Locked && !u.NoPassword {
				f := app.FindingDraft{
					AssetID: a.ID, Rule: RuleKeyOnLockedUser, Severity: app.SeverityHigh,
					Message: fmt.Sprintf("SSH key %s still opens a login to %s on %s, whose password is locked: a password lock does not stop key logins.",
						desc, k.User, hostName(agentID)),
				}
				remedy(&f)
				out = append(out, f)
			}
			if !a.FirstSeen.IsZero() && now.Sub(a.FirstSeen) > maxAge {
				f := app.FindingDraft{
					AssetID: a.ID, Rule: RuleKeyTooOld, Severity: app.SeverityMedium,
					Message: fmt.Sprintf("SSH key %s of %s on %s was first seen on %s, %d days ago; the policy is at most %d days. Replace it with a new key, then remove this one.",
						desc, k.User, hostName(agentID), a.FirstSeen.UTC().Format("2006-01-02"), int(now.Sub(a.FirstSeen)/(24*time.Hour)), maxDays),
				}
				remedy(&f)
				out = append(out, f)
			}
		}
	}
	return out
}

// RevokeOperation revokes an SSH key by removing it and a local user by
// locking its password (its keys are credentials of their own: revoke them
// too). Hosts are not credentials. The host is named by agent id, which is
// never ambiguous.
func (Driver) RevokeOperation(a *app.Asset) (string, json.RawMessage, bool) {
	if a == nil {
		return "", nil, false
	}
	agentID := agentOf(a.ExternalID)
	if !app.ValidAgentID(agentID) {
		return "", nil, false
	}
	switch a.Kind {
	case KindSSHKey:
		var k keyAttrs
		if json.Unmarshal(a.Attributes, &k) != nil || ops.ValidateUserName(k.User) != nil || ops.ValidateFingerprint(k.Fingerprint) != nil {
			return "", nil, false
		}
		return ops.TypeSSHKeyRemove, mustParams(map[string]string{"host": agentID, "user": k.User, "fingerprint": k.Fingerprint}), true
	case KindUser:
		var u userAttrs
		if json.Unmarshal(a.Attributes, &u) != nil || !mutable(u.User, u.UID) {
			return "", nil, false
		}
		return ops.TypeUserLock, mustParams(map[string]string{"host": agentID, "name": u.User}), true
	}
	return "", nil, false
}

func mustParams(m map[string]string) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // a map of strings always encodes
	}
	return b
}
