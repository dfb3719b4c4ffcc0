package hosts

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Asset kinds of agents connectors.
const (
	KindHost   = "host"
	KindUser   = "host.user"
	KindSSHKey = "host.ssh_key"
)

// Volatile attributes: an agent's status moves between online and offline
// with the network, which is neither a change nor drift.
func (Driver) Volatile(kind string) []string {
	if kind == KindHost {
		return []string{"status"}
	}
	return nil
}

// shortFingerprint keeps "SHA256:" and the first 12 characters of the hash,
// enough to tell keys apart at a glance.
func shortFingerprint(fp string) string {
	const keep = len("SHA256:") + 12
	if len(fp) > keep {
		return fp[:keep]
	}
	return fp
}

// Inventory lists, from the heartbeats the control plane stored, every
// selected agent as a host, its local users and their SSH keys. Revoked
// agents stay listed with their last inventory (status "revoked"), so a
// revocation does not make their users look deleted. Attributes are
// scalars, sorted maps or nothing, so unchanged data encodes the same way.
func (c *conn) Inventory(ctx context.Context) ([]app.Observation, error) {
	all, err := c.agents.ListAgents(ctx)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	now := c.now()
	var out []app.Observation
	for i := range all {
		if !c.selects(&all[i]) {
			continue
		}
		// ListAgents leaves the (large) inventory out; read it per agent.
		a, err := c.agents.AgentByID(ctx, all[i].ID)
		if app.ErrCode(err) == app.ENOTFOUND {
			continue // deleted meanwhile
		} else if err != nil {
			return nil, fmt.Errorf("agent %s: %w", all[i].ID, err)
		}
		h, err := hostOf(a)
		if err != nil {
			return nil, err
		}
		out = append(out, hostObservations(h, now)...)
	}
	return out, nil
}

var _ app.AssetReader = (*conn)(nil)

// ReadAssets picks refs' assets from Inventory: it reads the control
// plane's own store (the agents' last heartbeats), so a full read is cheap
// and exactly what a sync would see.
func (c *conn) ReadAssets(ctx context.Context, refs []app.AssetRef) ([]app.Observation, error) {
	all, err := c.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	return app.PickObservations(all, refs), nil
}

func hostObservations(h *host, now time.Time) []app.Observation {
	a := h.agent
	labels := map[string]any{}
	for k, v := range a.Labels {
		labels[k] = v
	}
	version := h.facts.AgentVersion
	if version == "" {
		version = a.Version
	}
	hostAttrs := map[string]any{
		"hostname":       a.Hostname,
		"os":             h.facts.OS,
		"kernel":         h.facts.Kernel,
		"agent_version":  version,
		"labels":         labels,
		"status":         a.Status(now),
		"cert_not_after": a.CertNotAfter.UTC().Format(time.RFC3339),
	}
	out := []app.Observation{{Kind: KindHost, ExternalID: a.ID, Name: a.Hostname, Attributes: hostAttrs}}
	users := append(h.users[:0:0], h.users...)
	sort.Slice(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	for _, u := range users {
		if u.Name == "" || strings.Contains(u.Name, "/") {
			continue // not a name an external id can carry
		}
		out = append(out, app.Observation{
			Kind: KindUser, ExternalID: a.ID + "/" + u.Name, Name: a.Hostname + "/" + u.Name,
			Attributes: map[string]any{
				"user": u.Name, "uid": u.UID, "shell": u.Shell, "home": u.Home,
				"locked": u.Locked, "no_password": u.NoPassword, "ssh_keys": len(u.SSHKeys),
			},
		})
		ks := append(u.SSHKeys[:0:0], u.SSHKeys...)
		sort.Slice(ks, func(i, j int) bool { return ks[i].Fingerprint < ks[j].Fingerprint })
		for _, k := range ks {
			if k.Fingerprint == "" {
				continue
			}
			out = append(out, app.Observation{
				Kind: KindSSHKey, ExternalID: a.ID + "/" + u.Name + "/" + k.Fingerprint,
				Name: a.Hostname + "/" + u.Name + "/" + shortFingerprint(k.Fingerprint),
				Attributes: map[string]any{
					"user": u.Name, "fingerprint": k.Fingerprint, "type": k.Type, "comment": k.Comment,
				},
			})
		}
	}
	return out
}
