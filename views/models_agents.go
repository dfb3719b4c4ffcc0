package views

// Agent statuses as the badges show them.
const (
	AgentOnline  = "online"
	AgentOffline = "offline"
	AgentRevoked = "revoked"
)

// AgentsView is the agent list and, for admins, the enrollment token form.
type AgentsView struct {
	Rows []AgentRow
	// CanManage shows the enrollment form (admins); the server checks
	// every request again.
	CanManage bool
	// EnrollmentOff says this server has no agent CA, so nothing can enroll.
	EnrollmentOff bool
	Token         EnrollmentTokenForm
}

// AgentRow is one agent in the table.
type AgentRow struct {
	ID         string
	Hostname   string
	Status     string // AgentOnline, AgentOffline or AgentRevoked
	LastSeen   string // empty before the first heartbeat
	Version    string
	CertExpiry string
	Labels     []string // "key=value", sorted
	OS         string
	DetailURL  string
}

// EnrollmentTokenForm is the token form as entered, kept on error.
type EnrollmentTokenForm struct {
	Labels string // "key=value" lines
	TTLs   []Option
	Error  string
}

// AgentDetailView is one agent: identity, facts, certificate and the local
// users of its last heartbeat.
type AgentDetailView struct {
	ID         string
	URL        string
	Hostname   string
	Status     string
	LastSeen   string
	Enrolled   string
	RevokedAt  string
	Version    string
	OS         string
	Kernel     string
	Uptime     string
	Labels     []string
	CertSerial string
	CertExpiry string
	AssetsURL  string
	HasFacts   bool
	HasUsers   bool // a heartbeat reported the users (maybe none)
	Users      []HostUserRow
	CanRevoke  bool
	UsersAsOf  string // the heartbeat the users come from
}

// HostUserRow is one local account of a host.
type HostUserRow struct {
	Name   string
	UID    string
	Shell  string
	Home   string
	Locked bool
	Keys   []SSHKeyRow
}

// SSHKeyRow is one authorized key, by fingerprint.
type SSHKeyRow struct {
	Fingerprint string
	Type        string
	Comment     string
}

// AgentRevokeView is the confirmation step of revoking an agent, which
// works without JavaScript.
type AgentRevokeView struct {
	ID       string
	URL      string
	Hostname string
}
