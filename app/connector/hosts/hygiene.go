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
	x := indexHosts(assets)
	var out []app.FindingDraft
	add := func(f app.FindingDraft, fired bool) {
		if fired {
			out = append(out, f)
		}
	}
	for i := range assets {
		a := &assets[i]
		agentID := agentOf(a.ExternalID)
		h, known := x.hosts[agentID]
		if a.Kind == KindHost || !known || h.Status == app.AgentRevoked {
			continue
		}
		switch a.Kind {
		case KindUser:
			var u userAttrs
			if json.Unmarshal(a.Attributes, &u) != nil {
				continue
			}
			add(ruleUID0NotRoot(a, u, x.hostName(agentID)))
		case KindSSHKey:
			k := sshKey{asset: a, agentID: agentID}
			if json.Unmarshal(a.Attributes, &k.attrs) != nil {
				continue
			}
			k.user, k.hasUser = x.users[agentID+"/"+k.attrs.User]
			add(ruleKeyOnLockedUser(x, k))
			add(ruleKeyTooOld(x, k, now, maxDays))
		}
	}
	return out
}

// hostIndex is what the rules need to know of a connector's hosts and users
// while judging one asset.
type hostIndex struct {
	hosts  map[string]hostAttrs // by agent id
	byName map[string]int       // live hosts per lower-case hostname
	users  map[string]userAttrs // by external id
}

func indexHosts(assets []app.Asset) hostIndex {
	x := hostIndex{hosts: map[string]hostAttrs{}, byName: map[string]int{}, users: map[string]userAttrs{}}
	for i := range assets {
		a := &assets[i]
		switch a.Kind {
		case KindHost:
			var h hostAttrs
			if json.Unmarshal(a.Attributes, &h) == nil {
				x.hosts[a.ExternalID] = h
				if h.Status != app.AgentRevoked {
					x.byName[strings.ToLower(h.Hostname)]++
				}
			}
		case KindUser:
			var u userAttrs
			if json.Unmarshal(a.Attributes, &u) == nil {
				x.users[a.ExternalID] = u
			}
		}
	}
	return x
}

// hostParam names a host in a remedy: its hostname when that is
// unambiguous and usable as a parameter, else its agent id.
func (x hostIndex) hostParam(agentID string) string {
	h := x.hosts[agentID]
	if x.byName[strings.ToLower(h.Hostname)] == 1 && hostRE.MatchString(h.Hostname) {
		return h.Hostname
	}
	return agentID
}

// hostName names a host in a message.
func (x hostIndex) hostName(agentID string) string {
	if h := x.hosts[agentID]; h.Hostname != "" {
		return h.Hostname
	}
	return "agent " + agentID
}

// sshKey is a host.ssh_key asset with its user, as the key rules read it.
type sshKey struct {
	asset   *app.Asset
	agentID string
	attrs   keyAttrs
	user    userAttrs
	hasUser bool // the user is in the inventory
}

// removeRemedy offers host.ssh_key.remove where the agent would do it.
func (x hostIndex) removeRemedy(f *app.FindingDraft, k sshKey) {
	if k.hasUser && mutable(k.attrs.User, k.user.UID) && ops.ValidateFingerprint(k.attrs.Fingerprint) == nil {
		f.RemedyType = ops.TypeSSHKeyRemove
		f.RemedyParams = mustParams(map[string]string{"host": x.hostParam(k.agentID), "user": k.attrs.User, "fingerprint": k.attrs.Fingerprint})
	}
}

// ruleUID0NotRoot fires for a user other than root with uid 0. It has no
// remedy: the agent never changes system accounts.
func ruleUID0NotRoot(a *app.Asset, u userAttrs, hostName string) (app.FindingDraft, bool) {
	if u.UID != 0 || u.User == "root" {
		return app.FindingDraft{}, false
	}
	return app.FindingDraft{
		AssetID: a.ID, Rule: RuleUID0NotRoot, Severity: app.SeverityHigh,
		Message: fmt.Sprintf("%s on %s has uid 0: it is root under another name. Nexplane does not change system accounts; remove it or give it its own uid on the host.",
			u.User, hostName),
	}, true
}

// ruleKeyOnLockedUser fires for a key of a user whose password is locked.
// A user never given a password logs in by key by design, so it does not
// count as locked.
func ruleKeyOnLockedUser(x hostIndex, k sshKey) (app.FindingDraft, bool) {
	if !k.hasUser || !k.user.Locked || k.user.NoPassword {
		return app.FindingDraft{}, false
	}
	f := app.FindingDraft{
		AssetID: k.asset.ID, Rule: RuleKeyOnLockedUser, Severity: app.SeverityHigh,
		Message: fmt.Sprintf("SSH key %s still opens a login to %s on %s, whose password is locked: a password lock does not stop key logins.",
			keyDesc(k.attrs.Fingerprint, k.attrs.Type, k.attrs.Comment), k.attrs.User, x.hostName(k.agentID)),
	}
	x.removeRemedy(&f, k)
	return f, true
}

// ruleKeyTooOld fires for a key first seen more than maxDays ago.
func ruleKeyTooOld(x hostIndex, k sshKey, now time.Time, maxDays int) (app.FindingDraft, bool) {
	first := k.asset.FirstSeen
	if first.IsZero() || now.Sub(first) <= time.Duration(maxDays)*24*time.Hour {
		return app.FindingDraft{}, false
	}
	f := app.FindingDraft{
		AssetID: k.asset.ID, Rule: RuleKeyTooOld, Severity: app.SeverityMedium,
		Message: fmt.Sprintf("SSH key %s of %s on %s was first seen on %s, %d days ago; the policy is at most %d days. Replace it with a new key, then remove this one.",
			keyDesc(k.attrs.Fingerprint, k.attrs.Type, k.attrs.Comment), k.attrs.User, x.hostName(k.agentID),
			first.UTC().Format("2006-01-02"), int(now.Sub(first)/(24*time.Hour)), maxDays),
	}
	x.removeRemedy(&f, k)
	return f, true
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
