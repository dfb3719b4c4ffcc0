// Package ops holds what the control plane and the agent share: the wire
// messages of the agent channel and the typed host operations. It uses the
// standard library only, so the agent stays small and auditable.
package ops

import "encoding/json"

// Paths of the agent listener (NEXPLANE_AGENT_LISTEN, default :8444).
// Enrollment needs only server-authenticated TLS; every other path needs a
// client certificate issued by the internal CA.
const (
	PathEnroll    = "/api/v1/agents/enroll"
	PathWork      = "/agent/v1/work"      // GET, long-poll up to MaxPollWait
	PathResults   = "/agent/v1/results"   // POST []Result
	PathHeartbeat = "/agent/v1/heartbeat" // POST Heartbeat
	PathRenew     = "/agent/v1/renew"     // POST RenewRequest
)

// MaxPollWaitSeconds is the longest the server holds a work poll open.
const MaxPollWaitSeconds = 30

// HeartbeatSeconds is how often the agent reports facts and inventory.
const HeartbeatSeconds = 15

// EnrollRequest is sent with a single-use token; the CSR carries the key
// the agent generated on its host (RSA-2048). The server picks the subject.
type EnrollRequest struct {
	Token    string `json:"token"`
	CSR      string `json:"csr"` // PEM "CERTIFICATE REQUEST"
	Hostname string `json:"hostname"`
}

// EnrollResponse gives the agent its identity.
type EnrollResponse struct {
	AgentID     string `json:"agent_id"`
	Certificate string `json:"certificate"` // PEM, client auth, signed by the CA
	CA          string `json:"ca"`          // PEM of the internal CA
}

// RenewRequest asks for a certificate for a new key pair, over the current
// (still valid) mutual TLS connection.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// RenewResponse is the new certificate.
type RenewResponse struct {
	Certificate string `json:"certificate"`
}

// Work is one operation handed to an agent. ID is unique; the agent
// remembers finished ids and never runs one twice.
type Work struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Params json.RawMessage `json:"params"`
}

// PollResponse carries zero or more work items.
type PollResponse struct {
	Work []Work `json:"work"`
}

// Result is an agent's report on one work item.
type Result struct {
	ID      string         `json:"id"`
	OK      bool           `json:"ok"`
	Summary string         `json:"summary,omitempty"`
	Error   string         `json:"error,omitempty"`
	Details map[string]any `json:"details,omitempty"`
	// Duplicate marks a redelivered id the agent had already finished; the
	// outcome fields repeat the first run's.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Heartbeat reports the host's facts and local inventory.
type Heartbeat struct {
	Facts Facts      `json:"facts"`
	Users []HostUser `json:"users"`
}

// Facts describe the host and the agent.
type Facts struct {
	Hostname      string `json:"hostname"`
	OS            string `json:"os"`
	Kernel        string `json:"kernel"`
	AgentVersion  string `json:"agent_version"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	// PrivilegedGroups and AllowedPrivilegedGroups report the agent's local
	// policy on root-equivalent groups, so a plan can say whether the host
	// will allow a grant. The agent enforces its policy either way; an
	// agent that reports none is older or has not sent a heartbeat.
	PrivilegedGroups        []string `json:"privileged_groups,omitempty"`
	AllowedPrivilegedGroups []string `json:"allowed_privileged_groups,omitempty"`
}

// HostUser is one local account.
type HostUser struct {
	Name   string `json:"name"`
	UID    int    `json:"uid"`
	Shell  string `json:"shell"`
	Home   string `json:"home"`
	Locked bool   `json:"locked"`
	// NoPassword: the account has no password at all ("!", "!!" or "*"),
	// as useradd leaves it; SSH keys still log in, so it is not a lock an
	// admin set.
	NoPassword bool     `json:"no_password,omitempty"`
	SSHKeys    []SSHKey `json:"ssh_keys"`
	// Groups names every group the account is in, its primary group
	// first, so a plan can warn when a key would log into a
	// root-equivalent account.
	Groups []string `json:"groups,omitempty"`
}

// SSHKey is one authorized_keys entry, by fingerprint (never the key's
// options or the whole line).
type SSHKey struct {
	Fingerprint string `json:"fingerprint"` // "SHA256:…" as ssh-keygen -l prints it
	Type        string `json:"type"`        // e.g. ssh-ed25519
	Comment     string `json:"comment,omitempty"`
}
