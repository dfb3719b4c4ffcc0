package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode"

	"github.com/nexplane/nexplane/agent/ops"
)

// Agent is an enrolled host. Its identity is the client certificate the
// internal CA issued for it: CN "agent:<ID>" and the serial recorded here.
type Agent struct {
	ID           string // 16 random hex characters, chosen by the server
	Hostname     string
	Labels       map[string]string // copied from the enrollment token
	CertSerial   string            // current certificate, lower-case hex
	CertNotAfter time.Time
	// PrevCertSerial is the certificate a renewal replaced. It keeps
	// working until the agent first presents the new one, so that renewal
	// has no gap; "" when none.
	PrevCertSerial string
	EnrolledAt     time.Time
	LastSeen       time.Time // last heartbeat; zero before the first
	Revoked        bool
	RevokedAt      time.Time       // zero unless revoked
	Facts          json.RawMessage // last heartbeat's ops.Facts; nil before the first
	Users          json.RawMessage // last heartbeat's []ops.HostUser; nil before the first
	Version        string          // agent version from the last heartbeat
	// Server is the server process whose agent listener last took a poll
	// from the agent ("" before the first): where its work must be queued.
	Server string
}

// AgentOnlineWindow is how recent a heartbeat must be for an agent to count
// as online: three heartbeats (ops.HeartbeatSeconds), so one lost beat does
// not flap the status.
const AgentOnlineWindow = 3 * ops.HeartbeatSeconds * time.Second

// Agent statuses as Status reports them.
const (
	AgentOnline  = "online"
	AgentOffline = "offline"
	AgentRevoked = "revoked"
)

// Status is "revoked", "online" (heartbeat within AgentOnlineWindow) or
// "offline".
func (a *Agent) Status(now time.Time) string {
	switch {
	case a.Revoked:
		return AgentRevoked
	case !a.LastSeen.IsZero() && now.Sub(a.LastSeen) <= AgentOnlineWindow:
		return AgentOnline
	default:
		return AgentOffline
	}
}

// EnrollmentToken lets one host enroll once. Only the SHA-256 of the token
// is stored; the token itself is shown once, to the Admin who made it.
type EnrollmentToken struct {
	ID        int64
	TokenHash string // hex SHA-256 of the token
	Labels    map[string]string
	CreatedBy string // actor id
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
	UsedBy    string    // agent id; "" until used
}

// AgentRevocation is one revoked agent, for listeners that must close its
// open connections.
type AgentRevocation struct {
	AgentID string
	At      time.Time
}

// AgentSigner issues agent client certificates (app/pki's CA implements it).
type AgentSigner interface {
	// SignAgent checks csrDER (signature; RSA-2048 only) and issues a
	// client certificate whose subject names agentID; nothing of the CSR
	// but its public key is used. Refusals are *Error EINVALID.
	SignAgent(csrDER []byte, agentID string, now time.Time) (certPEM []byte, serial string, notAfter time.Time, err error)
	// CAPEM is the CA certificate agents trust.
	CAPEM() []byte
	// Fingerprint is the hex SHA-256 of the CA certificate (DER).
	Fingerprint() string
}

// Enrollment token lifetimes.
const (
	DefaultEnrollmentTTL = time.Hour
	MinEnrollmentTTL     = time.Minute
	MaxEnrollmentTTL     = 24 * time.Hour
)

// ErrEnrollmentToken is the one answer for every unusable token, so a caller
// cannot tell which tokens ever existed.
var ErrEnrollmentToken = Errorf(EUNAUTHORIZED, "enrollment token is invalid, expired or already used")

var (
	labelKeyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	agentIDRE  = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

const (
	maxLabels        = 32
	maxLabelValueLen = 128
	maxHostnameLen   = 253
	maxVersionLen    = 64
	maxCSRPEMLen     = 16 << 10
	// maxInventoryJSON bounds what one heartbeat stores per agent row.
	maxInventoryJSON = 4 << 20
)

// ValidateLabels checks label keys (lower-case, 1-63 of [a-z0-9._-]) and
// values (up to 128 printable characters).
func ValidateLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return Errorf(EINVALID, "at most %d labels are allowed", maxLabels)
	}
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return Errorf(EINVALID, "label key %q must be 1 to 63 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit", k)
		}
		if len(v) > maxLabelValueLen || !printable(v) {
			return Errorf(EINVALID, "label %q: value must be at most %d printable characters", k, maxLabelValueLen)
		}
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// ValidAgentID reports whether id has the shape the server gives agent ids.
func ValidAgentID(id string) bool { return agentIDRE.MatchString(id) }

// HashEnrollmentToken is what the store keeps of a token.
func HashEnrollmentToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newAgentID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("agent id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// newEnrollmentToken returns 256 random bits, prefixed so a leaked token
// is recognisable in logs and secret scanners.
func newEnrollmentToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("enrollment token: %w", err)
	}
	return "nxe_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// decodeCSR takes exactly one PEM "CERTIFICATE REQUEST" block.
func decodeCSR(csrPEM string) ([]byte, error) {
	if len(csrPEM) > maxCSRPEMLen {
		return nil, Errorf(EINVALID, "csr is larger than %d bytes", maxCSRPEMLen)
	}
	block, rest := pem.Decode([]byte(csrPEM))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, Errorf(EINVALID, `csr must be one PEM block of type "CERTIFICATE REQUEST"`)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, Errorf(EINVALID, "csr must hold a single PEM block")
	}
	return block.Bytes, nil
}

func agentActor(id string) Actor { return Actor{Type: ActorAgent, ID: id} }

// CreateEnrollmentToken makes a single-use token (Admin only) and returns
// it in clear text; only its hash is stored. ttl 0 means the default.
func (s *Service) CreateEnrollmentToken(ctx context.Context, actor Actor, labels map[string]string, ttl time.Duration) (string, *EnrollmentToken, error) {
	if err := actor.require(ActManageAgents); err != nil {
		return "", nil, err
	}
	if s.agents == nil {
		return "", nil, Errorf(EUNAVAILABLE, "agent enrollment is not configured on this server")
	}
	if ttl == 0 {
		ttl = DefaultEnrollmentTTL
	}
	if ttl < MinEnrollmentTTL || ttl > MaxEnrollmentTTL {
		return "", nil, Errorf(EINVALID, "ttl must be between %s and %s", MinEnrollmentTTL, "24h")
	}
	if labels == nil {
		labels = map[string]string{}
	}
	if err := ValidateLabels(labels); err != nil {
		return "", nil, err
	}
	token, err := newEnrollmentToken()
	if err != nil {
		return "", nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	et := &EnrollmentToken{TokenHash: HashEnrollmentToken(token), Labels: labels, CreatedBy: actor.ID,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.CreateEnrollmentToken(ctx, et); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "agent.enrollment_token_created", "enrollment_token",
			strconv.FormatInt(et.ID, 10), map[string]any{"labels": labels, "expires_at": et.ExpiresAt})
	})
	if err != nil {
		return "", nil, fmt.Errorf("create enrollment token: %w", err)
	}
	return token, et, nil
}

// Enrollment is what a successful Enroll hands back to the agent.
type Enrollment struct {
	Agent   *Agent
	CertPEM []byte
	CAPEM   []byte
}

// Enroll turns a single-use token and a CSR into an agent and its client
// certificate. The token is consumed in the same transaction that creates
// the agent and its audit record, so two hosts racing with one token get
// one agent between them.
func (s *Service) Enroll(ctx context.Context, token, csrPEM, hostname string) (*Enrollment, error) {
	if s.agents == nil {
		return nil, Errorf(EUNAVAILABLE, "agent enrollment is not configured on this server")
	}
	if token == "" {
		return nil, ErrEnrollmentToken
	}
	if hostname == "" || len(hostname) > maxHostnameLen || !printable(hostname) {
		return nil, Errorf(EINVALID, "hostname must be 1 to %d printable characters", maxHostnameLen)
	}
	hash := HashEnrollmentToken(token)
	now := s.now().UTC()
	// Check the token before signing anything, so that guessing tokens
	// costs the server a lookup, not a signature.
	et, err := s.store.EnrollmentTokenByHash(ctx, hash)
	if ErrCode(err) == ENOTFOUND || (err == nil && (!et.UsedAt.IsZero() || !now.Before(et.ExpiresAt))) {
		return nil, ErrEnrollmentToken
	} else if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	der, err := decodeCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	id, err := newAgentID()
	if err != nil {
		return nil, err
	}
	certPEM, serial, notAfter, err := s.agents.SignAgent(der, id, now)
	if err != nil {
		return nil, err
	}
	a := &Agent{ID: id, Hostname: hostname, CertSerial: serial, CertNotAfter: notAfter.UTC().Truncate(time.Millisecond),
		EnrolledAt: now.Truncate(time.Millisecond)}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		used, err := tx.ConsumeEnrollmentToken(ctx, hash, id, now)
		if ErrCode(err) == ENOTFOUND {
			return ErrEnrollmentToken
		} else if err != nil {
			return err
		}
		a.Labels = used.Labels
		if err := tx.CreateAgent(ctx, a); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, agentActor(id), "agent.enrolled", "agent", id, map[string]any{
			"hostname": hostname, "labels": a.Labels, "cert_serial": serial, "cert_not_after": a.CertNotAfter,
			"enrollment_token_id": used.ID})
	})
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	return &Enrollment{Agent: a, CertPEM: certPEM, CAPEM: s.agents.CAPEM()}, nil
}

// AuthenticateAgent is asked on every mutual-TLS request, after the TLS
// layer verified the chain and expiry: it refuses unknown and revoked
// agents and certificates that are neither the agent's current one nor the
// one its last renewal replaced. The first request with the current
// certificate retires the previous one.
func (s *Service) AuthenticateAgent(ctx context.Context, agentID, serial string) (*Agent, error) {
	a, err := s.store.AgentByID(ctx, agentID)
	if ErrCode(err) == ENOTFOUND {
		return nil, Errorf(EUNAUTHORIZED, "unknown agent")
	} else if err != nil {
		return nil, fmt.Errorf("authenticate agent %s: %w", agentID, err)
	}
	switch {
	case a.Revoked:
		return nil, Errorf(EFORBIDDEN, "agent %s is revoked; enroll again with a new token", agentID)
	case serial == a.CertSerial && a.PrevCertSerial != "":
		err := s.store.WithTx(ctx, func(tx Tx) error { return tx.RetirePrevAgentCert(ctx, agentID, serial) })
		if err != nil {
			return nil, fmt.Errorf("authenticate agent %s: %w", agentID, err)
		}
		a.PrevCertSerial = ""
	case serial == a.CertSerial, serial == a.PrevCertSerial && serial != "":
	default:
		return nil, Errorf(EUNAUTHORIZED, "this certificate has been replaced; use the agent's current certificate")
	}
	return a, nil
}

// RecordHeartbeat stores an agent's facts and inventory and its last-seen
// time. Heartbeats are not audited: they change nothing anyone decided.
func (s *Service) RecordHeartbeat(ctx context.Context, agentID string, hb ops.Heartbeat) error {
	if len(hb.Facts.AgentVersion) > maxVersionLen || !printable(hb.Facts.AgentVersion) {
		return Errorf(EINVALID, "facts.agent_version must be at most %d printable characters", maxVersionLen)
	}
	if hb.Users == nil {
		hb.Users = []ops.HostUser{}
	}
	facts, err := json.Marshal(hb.Facts)
	if err != nil {
		return fmt.Errorf("heartbeat: encode facts: %w", err)
	}
	users, err := json.Marshal(hb.Users)
	if err != nil {
		return fmt.Errorf("heartbeat: encode users: %w", err)
	}
	if len(facts)+len(users) > maxInventoryJSON {
		return Errorf(EINVALID, "heartbeat inventory is larger than %d bytes", maxInventoryJSON)
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		return tx.RecordAgentHeartbeat(ctx, agentID, s.now().UTC(), facts, users, hb.Facts.AgentVersion)
	})
	if err != nil {
		return fmt.Errorf("heartbeat of agent %s: %w", agentID, err)
	}
	return nil
}

// Renew issues a certificate for a new key pair of an agent that presented
// a valid certificate (serial). The presented certificate stays valid
// until the agent uses the new one, so the swap has no gap.
func (s *Service) Renew(ctx context.Context, agentID, presentedSerial, csrPEM string) ([]byte, *Agent, error) {
	if s.agents == nil {
		return nil, nil, Errorf(EUNAVAILABLE, "agent certificates are not configured on this server")
	}
	der, err := decodeCSR(csrPEM)
	if err != nil {
		return nil, nil, err
	}
	now := s.now().UTC()
	certPEM, serial, notAfter, err := s.agents.SignAgent(der, agentID, now)
	if err != nil {
		return nil, nil, err
	}
	notAfter = notAfter.UTC().Truncate(time.Millisecond)
	var a *Agent
	err = s.store.WithTx(ctx, func(tx Tx) error {
		ok, err := tx.RenewAgentCert(ctx, agentID, presentedSerial, serial, notAfter)
		if err != nil {
			return err
		}
		if !ok {
			// Revoked, or the presented certificate was retired meanwhile.
			return Errorf(EFORBIDDEN, "this agent or certificate may no longer renew")
		}
		if a, err = tx.AgentByID(ctx, agentID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, agentActor(agentID), "agent.certificate_renewed", "agent", agentID,
			map[string]any{"previous_serial": presentedSerial, "cert_serial": serial, "cert_not_after": notAfter})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("renew certificate of agent %s: %w", agentID, err)
	}
	return certPEM, a, nil
}

// RevokeAgent locks an agent out for good (Admin only): its certificates
// stop working at once and re-enrolment needs a new token. Revoking a
// revoked agent changes nothing and records nothing.
func (s *Service) RevokeAgent(ctx context.Context, actor Actor, id string) (*Agent, error) {
	if err := actor.require(ActManageAgents); err != nil {
		return nil, err
	}
	var a *Agent
	changed := false
	err := s.store.WithTx(ctx, func(tx Tx) error {
		var err error
		now := s.now().UTC()
		if changed, err = tx.RevokeAgent(ctx, id, now); err != nil {
			return err
		}
		if a, err = tx.AgentByID(ctx, id); err != nil {
			return err
		}
		if !changed {
			return nil
		}
		return s.appendAudit(ctx, tx, actor, "agent.revoked", "agent", id,
			map[string]any{"hostname": a.Hostname, "cert_serial": a.CertSerial})
	})
	if err != nil {
		return nil, fmt.Errorf("revoke agent %s: %w", id, err)
	}
	// Told after the commit: a listener that closes the agent's connections
	// would otherwise race a rollback.
	s.agentRevoked(id)
	return a, nil
}

// AgentRevocationsSince lists agents revoked at or after since, for
// listeners in other processes that must close their connections.
func (s *Service) AgentRevocationsSince(ctx context.Context, since time.Time) ([]AgentRevocation, error) {
	return s.store.AgentRevocationsSince(ctx, since)
}

// ListAgents returns every agent; anyone who may read assets may read them.
func (s *Service) ListAgents(ctx context.Context, actor Actor) ([]Agent, error) {
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	return s.store.ListAgents(ctx)
}

// GetAgent returns one agent with its last inventory.
func (s *Service) GetAgent(ctx context.Context, actor Actor, id string) (*Agent, error) {
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	if !ValidAgentID(id) {
		return nil, Errorf(ENOTFOUND, "agent not found")
	}
	return s.store.AgentByID(ctx, id)
}

// AgentCAFingerprint is the hex SHA-256 of the agent CA, or "" when agents
// are not configured.
func (s *Service) AgentCAFingerprint() string {
	if s.agents == nil {
		return ""
	}
	return s.agents.Fingerprint()
}

// Now is the service clock (handlers use it for statuses).
func (s *Service) Now() time.Time { return s.now() }

// RelayState is where a relayed work item is.
type RelayState string

const (
	RelayQueued    RelayState = "queued"    // waiting for the delivering server
	RelayTaken     RelayState = "taken"     // in the delivering server's hub
	RelayDone      RelayState = "done"      // Result or Error is set
	RelayCancelled RelayState = "cancelled" // the dispatching server gave up
)

// RelayedWork is a host operation on its way from the server executing it to
// the server whose listener holds the agent's poll (servers sharing one
// PostgreSQL database). It is transport, like the hub's queue: the change
// request's operation keeps the durable, audited record.
type RelayedWork struct {
	WorkID    string
	AgentID   string
	Server    string          // the delivering server
	Work      json.RawMessage // ops.Work
	State     RelayState
	Result    json.RawMessage // ops.Result, when done with the agent's answer
	Error     string          // when done without one
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RecordAgentServer notes the server whose listener holds the agent's
// poll, so that host operations executed on other servers are relayed
// there. Not audited: it is transport, like heartbeats.
func (s *Service) RecordAgentServer(ctx context.Context, agentID, server string) error {
	if err := s.store.WithTx(ctx, func(tx Tx) error { return tx.SetAgentServer(ctx, agentID, server) }); err != nil {
		return fmt.Errorf("record server of agent %s: %w", agentID, err)
	}
	return nil
}
