package app

import (
	"context"
	"time"
)

// Store is the persistence seam: both drivers (SQLite, PostgreSQL) implement
// it. Reads may run outside a transaction; every state change runs inside
// WithTx together with the audit event that records it.
type Store interface {
	Queries
	// WithTx runs fn in one transaction; an error from fn rolls it back.
	WithTx(ctx context.Context, fn func(tx Tx) error) error
	// Ping checks the database is reachable.
	Ping(ctx context.Context) error
	// SchemaVersion reports the applied and the latest known migration.
	SchemaVersion(ctx context.Context) (applied, latest int, err error)
	Close() error
}

// Queries are the reads, available on the store and inside a transaction.
// A missing row is an *Error with code ENOTFOUND.
type Queries interface {
	UserByID(ctx context.Context, id int64) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)

	SessionByID(ctx context.Context, id string) (*Session, error)
	// SessionsOfUser lists a user's console sessions, most recently seen
	// first (expired ones that wait for DeleteExpiredSessions included).
	SessionsOfUser(ctx context.Context, userID int64) ([]Session, error)
	// PasswordLinkByID returns a password link by its hash, expired or not.
	PasswordLinkByID(ctx context.Context, id string) (*PasswordLink, error)
	// PasswordLinksOfUser lists a user's password links, newest first.
	PasswordLinksOfUser(ctx context.Context, userID int64) ([]PasswordLink, error)

	// MFAFactors lists a user's second factors, pending ones included, by kind.
	MFAFactors(ctx context.Context, userID int64) ([]MFAFactor, error)
	// AllMFAFactors lists every user's factors (rekey).
	AllMFAFactors(ctx context.Context) ([]MFAFactor, error)
	// CountRecoveryCodes counts a user's unused recovery codes.
	CountRecoveryCodes(ctx context.Context, userID int64) (int, error)
	// MFAChallengeByID returns a half-finished login by its token's hash;
	// callers check ExpiresAt.
	MFAChallengeByID(ctx context.Context, id string) (*MFAChallenge, error)

	// APITokenByHash returns the token whose hex SHA-256 is hash, revoked
	// or expired ones included, with its owner, in one query (it runs on
	// every API request with a token; ENOTFOUND when there is none).
	APITokenByHash(ctx context.Context, hash string) (*APIToken, *User, error)
	APITokenByID(ctx context.Context, id int64) (*APIToken, error)
	// ListAPITokens returns every token of a user, newest first.
	ListAPITokens(ctx context.Context, userID int64) ([]APIToken, error)
	// PasskeysOf lists a user's passkeys, oldest first.
	PasskeysOf(ctx context.Context, userID int64) ([]Passkey, error)
	// PasskeyByCredentialID finds a passkey by its credential id.
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (*Passkey, error)
	// PasskeyCeremonyByID returns a ceremony in progress by its token's
	// hash; callers check ExpiresAt and the binding.
	PasskeyCeremonyByID(ctx context.Context, id string) (*PasskeyCeremony, error)

	// ListAudit returns records matching f, newest (highest id) first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	AuditByID(ctx context.Context, id int64) (*AuditEvent, error)
	// WalkAudit calls fn for records with at in [from, to) (zero = unbounded)
	// in ascending id order, streaming; fn's error stops the walk.
	WalkAudit(ctx context.Context, from, to time.Time, fn func(*AuditEvent) error) error
	// ListCheckpoints returns up to limit audit checkpoints with seq below
	// beforeSeq (0 = from the newest), highest seq first.
	ListCheckpoints(ctx context.Context, beforeSeq int64, limit int) ([]Checkpoint, error)
	// CheckpointsAfter returns up to limit checkpoints with seq above
	// afterSeq (-1 includes the empty chain's, seq 0), lowest seq first.
	CheckpointsAfter(ctx context.Context, afterSeq int64, limit int) ([]Checkpoint, error)
	// AuditAfter returns up to limit records with id > afterID, ascending.
	AuditAfter(ctx context.Context, afterID int64, limit int) ([]AuditEvent, error)
	// AuditHead returns the newest record's id (0 when there is none).
	AuditHead(ctx context.Context) (int64, error)
	// OutboxCursor returns the cursor of one outbound stream (ENOTFOUND
	// before its first claim).
	OutboxCursor(ctx context.Context, name string) (*OutboxCursor, error)

	// Setting returns a stored value by key (ENOTFOUND when absent).
	Setting(ctx context.Context, key string) ([]byte, error)

	IdentityProviderByID(ctx context.Context, id int64) (*IdentityProvider, error)
	// ListIdentityProviders returns every provider by name.
	ListIdentityProviders(ctx context.Context) ([]IdentityProvider, error)
	// CountProviderUsers counts the users linked to a provider.
	CountProviderUsers(ctx context.Context, providerID int64) (int, error)
	// UserSignInOf returns a user's sign-in row (ENOTFOUND for a plain
	// local account).
	UserSignInOf(ctx context.Context, userID int64) (*UserSignIn, error)
	// UserBySubject returns the user linked to a provider's subject with
	// its sign-in row (ENOTFOUND when none is).
	UserBySubject(ctx context.Context, providerID int64, subject string) (*User, *UserSignIn, error)

	ConnectorByID(ctx context.Context, id int64) (*Connector, error)
	ListConnectors(ctx context.Context) ([]Connector, error) // by name
	// ConnectorsWithCredentials lists every connector holding sealed
	// credentials (rekey).
	ConnectorsWithCredentials(ctx context.Context) ([]Connector, error)

	// ChangeRequestByID returns the request with its operations (by seq),
	// approvals (oldest first) and contributors (creator first).
	ChangeRequestByID(ctx context.Context, id int64) (*ChangeRequest, error)
	// ListChangeRequests returns matching requests newest first, with
	// operations and approvals.
	ListChangeRequests(ctx context.Context, f ChangeFilter) ([]ChangeRequest, error)
	// ChangesAwaitingExecution lists the ids of a connector's submitted and
	// approved requests, oldest first (a connector change voids their
	// approvals).
	ChangesAwaitingExecution(ctx context.Context, connectorID int64) ([]int64, error)
	// QueuedExecutions lists executing requests nobody holds (empty lease
	// owner): emergency changes first, then oldest first.
	QueuedExecutions(ctx context.Context, limit int) ([]QueuedExecution, error)
	// ExpiredLeases lists executing requests whose owner's lease ended
	// before now.
	ExpiredLeases(ctx context.Context, now time.Time) ([]int64, error)

	// RevealByOperation returns the pending reveal of an operation; callers
	// check ExpiresAt (expired rows wait for DeleteExpiredReveals).
	RevealByOperation(ctx context.Context, operationID int64) (*Reveal, error)
	// RevealsForChange lists pending reveals of a change request.
	RevealsForChange(ctx context.Context, changeID int64) ([]Reveal, error)
	// AllReveals lists every pending reveal.
	AllReveals(ctx context.Context) ([]Reveal, error)

	AssetByID(ctx context.Context, id int64) (*Asset, error)
	// ListAssets returns matching assets, highest id first (keyset).
	ListAssets(ctx context.Context, f AssetFilter) ([]Asset, error)
	// ConnectorAssets returns every asset of a connector, gone ones included.
	ConnectorAssets(ctx context.Context, connectorID int64) ([]Asset, error)
	// ListFindings returns matching findings, most severe first.
	ListFindings(ctx context.Context, f FindingFilter) ([]Finding, error)
	// ListDrift returns matching drift records, newest first.
	ListDrift(ctx context.Context, f DriftFilter) ([]Drift, error)
	// CountOpenFindings counts the open findings by severity.
	CountOpenFindings(ctx context.Context) (map[Severity]int, error)
	// CountSetupProgress counts what the dashboard's getting-started
	// checklist asks for: people (not service accounts), connectors and
	// change requests.
	CountSetupProgress(ctx context.Context) (SetupProgress, error)
	// MostSevereOpenFindings returns up to limit open findings, most severe
	// first, then newest, each with its asset's name.
	MostSevereOpenFindings(ctx context.Context, limit int) ([]AssetFinding, error)
	DriftByID(ctx context.Context, id int64) (*Drift, error)
	// SyncStateOf returns a connector's sync bookkeeping (ENOTFOUND before
	// its first sync).
	SyncStateOf(ctx context.Context, connectorID int64) (*SyncState, error)
	// DueSyncs lists connectors whose next sync is due at now, including
	// connectors never synced.
	DueSyncs(ctx context.Context, now time.Time) ([]int64, error)
	// ChangesTouchingSince lists change requests of a connector that were
	// executing at or finished after since (they may explain changes).
	ChangesTouchingSince(ctx context.Context, connectorID int64, since time.Time) ([]ChangeRequest, error)

	// Agents.

	// AgentByID returns an agent with its last inventory.
	AgentByID(ctx context.Context, id string) (*Agent, error)
	// ListAgents returns every agent by hostname, then id, without the
	// (large) users inventory.
	ListAgents(ctx context.Context) ([]Agent, error)
	// CountAgentsByStatus counts the agents by Agent.Status; those heard
	// from at or after onlineSince are online.
	CountAgentsByStatus(ctx context.Context, onlineSince time.Time) (map[string]int, error)
	// AgentRevocationsSince lists agents revoked at or after since, oldest
	// revocation first.
	AgentRevocationsSince(ctx context.Context, since time.Time) ([]AgentRevocation, error)
	// EnrollmentTokenByHash returns a token, used or not, by its hash.
	EnrollmentTokenByHash(ctx context.Context, hash string) (*EnrollmentToken, error)

	// RelayedWorkByID returns one relayed work item.
	RelayedWorkByID(ctx context.Context, workID string) (*RelayedWork, error)
	// RelayedWorkFor lists the items a server is to deliver or has taken,
	// cancelled ones included, oldest first.
	RelayedWorkFor(ctx context.Context, server string) ([]RelayedWork, error)
}

// Tx is a store transaction: reads plus writes.
type Tx interface {
	Queries
	// CreateUser inserts u and sets u.ID; a taken email is ECONFLICT.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser writes email, password hash, role, disabled, session
	// version and updated_at of u.ID.
	UpdateUser(ctx context.Context, u *User) error
	// LockActiveAdmins holds the rows of every enabled admin until the
	// transaction ends and returns how many there are, so two requests
	// demoting or disabling admins at once are counted one after the other.
	LockActiveAdmins(ctx context.Context) (int, error)

	CreateSession(ctx context.Context, s *Session) error
	// TouchSession sets last_seen_at and data.
	TouchSession(ctx context.Context, s *Session) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of a user.
	DeleteUserSessions(ctx context.Context, userID int64) error
	// DeleteExpiredSessions removes sessions past their limits at now.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	// CreatePasswordLink inserts l.
	CreatePasswordLink(ctx context.Context, l *PasswordLink) error
	// ConsumePasswordLink deletes a link and returns it; ENOTFOUND when it
	// is gone (used, replaced or purged), so a link works once.
	ConsumePasswordLink(ctx context.Context, id string) (*PasswordLink, error)
	// DeletePasswordLinks removes every password link of a user.
	DeletePasswordLinks(ctx context.Context, userID int64) error
	// ClearPasswordLinkReveal empties a link's sealed reveal (ENOTFOUND
	// when the link is gone).
	ClearPasswordLinkReveal(ctx context.Context, id string) error
	// DeleteExpiredPasswordLinks removes links past their expiry at now.
	DeleteExpiredPasswordLinks(ctx context.Context, now time.Time) (int64, error)
	// PutMFAFactor inserts or replaces the factor (user, kind).
	PutMFAFactor(ctx context.Context, f *MFAFactor) error
	// AdvanceMFAStep sets a factor's last used TOTP step to step only if it
	// is below it, and reports whether it did: a code works once even
	// under concurrent requests.
	AdvanceMFAStep(ctx context.Context, userID int64, kind FactorKind, step int64) (bool, error)
	// DeleteMFA removes a user's factors and recovery codes.
	DeleteMFA(ctx context.Context, userID int64) error
	// ReplaceRecoveryCodes drops a user's recovery codes and stores hashes.
	ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string, at time.Time) error
	// UseRecoveryCode marks an unused code of the user used and reports
	// whether one was.
	UseRecoveryCode(ctx context.Context, userID int64, hash string, at time.Time) (bool, error)
	CreateMFAChallenge(ctx context.Context, c *MFAChallenge) error
	// DeleteMFAChallenge removes a challenge; ENOTFOUND when it is gone,
	// which is what makes a token work once.
	DeleteMFAChallenge(ctx context.Context, id string) error
	// DeleteExpiredMFAChallenges removes challenges expired at now.
	DeleteExpiredMFAChallenges(ctx context.Context, now time.Time) (int64, error)
	// CreateAPIToken inserts t and sets t.ID; a taken hash is ECONFLICT.
	CreateAPIToken(ctx context.Context, t *APIToken) error
	// RevokeAPIToken marks a token revoked at at; false when it already was
	// (ENOTFOUND when there is no such token).
	RevokeAPIToken(ctx context.Context, id int64, at time.Time) (bool, error)
	// RevokeUserTokens revokes every unrevoked token of a user at at and
	// returns how many (password change, ending all of a user's access).
	RevokeUserTokens(ctx context.Context, userID int64, at time.Time) (int64, error)
	// TouchAPIToken records a use at at from ip with userAgent, only when
	// the token's last use is before notAfter (one conditional update, so
	// concurrent requests write at most once); it reports whether it wrote.
	TouchAPIToken(ctx context.Context, id int64, at time.Time, ip, userAgent string, notAfter time.Time) (bool, error)

	// CreatePasskey stores a new passkey and sets p.ID; ECONFLICT when the
	// credential is registered already or the user has one of that name.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// UsePasskey records a use: the new sign count and when. It succeeds
	// only while the stored count is below signCount (or both are 0), and
	// reports whether it did, so a replayed or cloned counter loses even
	// under concurrent requests.
	UsePasskey(ctx context.Context, id int64, signCount uint32, at time.Time) (bool, error)
	// DeletePasskey removes the user's passkey id; ENOTFOUND when the user
	// has no such passkey.
	DeletePasskey(ctx context.Context, userID, id int64) error
	// DeletePasskeys removes every passkey of a user (MFA reset).
	DeletePasskeys(ctx context.Context, userID int64) error
	CreatePasskeyCeremony(ctx context.Context, c *PasskeyCeremony) error
	// DeletePasskeyCeremony removes a ceremony; ENOTFOUND when it is gone,
	// which is what makes it single use.
	DeletePasskeyCeremony(ctx context.Context, id string) error
	// DeleteExpiredPasskeyCeremonies removes ceremonies expired at now.
	DeleteExpiredPasskeyCeremonies(ctx context.Context, now time.Time) (int64, error)

	// AppendAudit assigns e.ID (previous id + 1), e.PrevHash and e.Hash,
	// serialising appends so the chain has no forks, and inserts the record.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// AppendCheckpoint stores c unless a checkpoint of c.Seq exists, and
	// reports whether it stored it.
	AppendCheckpoint(ctx context.Context, c *Checkpoint) (bool, error)

	// ClaimOutbox creates the cursor name if absent and takes or renews its
	// lease for owner until until, unless another owner's lease runs past
	// now; it reports whether owner holds the lease.
	ClaimOutbox(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	// AdvanceOutbox moves the cursor forward to seq (never back) and clears
	// its error. Cursor writes are delivery bookkeeping, not audited changes.
	AdvanceOutbox(ctx context.Context, name string, seq int64, now time.Time) error
	// SetOutboxError records the last delivery failure of name.
	SetOutboxError(ctx context.Context, name, msg string, now time.Time) error

	PutSetting(ctx context.Context, key string, value []byte) error
	// CreateSetting stores key only when it is absent and reports whether it
	// did; two servers racing to create a key then agree on one value.
	CreateSetting(ctx context.Context, key string, value []byte) (created bool, err error)

	// CreateIdentityProvider inserts p and sets p.ID; a taken name is ECONFLICT.
	CreateIdentityProvider(ctx context.Context, p *IdentityProvider) error
	// UpdateIdentityProvider writes every field of p.ID.
	UpdateIdentityProvider(ctx context.Context, p *IdentityProvider) error
	// DeleteIdentityProvider removes a provider (ENOTFOUND when absent).
	DeleteIdentityProvider(ctx context.Context, id int64) error
	// PutUserSignIn inserts or replaces the sign-in row of s.UserID; a
	// subject linked to another user already is ECONFLICT.
	PutUserSignIn(ctx context.Context, s *UserSignIn) error
	CreateSSOLogin(ctx context.Context, l *SSOLogin) error
	// ConsumeSSOLogin deletes a login in progress and returns it;
	// ENOTFOUND when it is gone, which makes a state single use.
	ConsumeSSOLogin(ctx context.Context, id string) (*SSOLogin, error)
	// DeleteExpiredSSOLogins removes logins in progress expired at now.
	DeleteExpiredSSOLogins(ctx context.Context, now time.Time) (int64, error)

	// CreateConnector inserts c and sets c.ID; a taken name is ECONFLICT.
	CreateConnector(ctx context.Context, c *Connector) error
	// UpdateConnector writes every field of c.ID.
	UpdateConnector(ctx context.Context, c *Connector) error
	// DeleteConnector removes a connector; one referenced by change
	// requests is ECONFLICT.
	DeleteConnector(ctx context.Context, id int64) error

	// CreateChangeRequest inserts c and its operations, setting their ids,
	// and records its creator (then any other Contributors) as contributor.
	CreateChangeRequest(ctx context.Context, c *ChangeRequest) error
	// LockChangeRequest holds the request's row until the transaction ends;
	// every transition takes it before reading the request.
	LockChangeRequest(ctx context.Context, changeID int64) error
	// UpdateChangeRequest writes the request's own fields (not operations
	// or approvals).
	UpdateChangeRequest(ctx context.Context, c *ChangeRequest) error
	// ReplaceOperations deletes the request's operations and inserts ops,
	// setting their ids (drafts only; the caller checks).
	ReplaceOperations(ctx context.Context, changeID int64, ops []ChangeOperation) error
	// UpdateOperation writes status, plan, result, error and times of op.ID.
	UpdateOperation(ctx context.Context, op *ChangeOperation) error
	// AddApproval inserts a and sets a.ID.
	AddApproval(ctx context.Context, a *Approval) error
	// AddContributor records that a user wrote a revision of a request
	// (a no-op when they already had).
	AddContributor(ctx context.Context, changeID int64, k Contributor) error
	// VoidApprovals marks every approval of a request void.
	VoidApprovals(ctx context.Context, changeID int64) error

	// ClaimExecution takes the lease of an executing request that nobody
	// holds (empty owner); false when another worker got it first.
	ClaimExecution(ctx context.Context, changeID int64, owner string, until time.Time) (bool, error)
	// RenewLease extends owner's lease; false when owner no longer holds it.
	RenewLease(ctx context.Context, changeID int64, owner string, until time.Time) (bool, error)

	CreateReveal(ctx context.Context, r *Reveal) error
	// UpdateRevealSealed replaces a reveal's ciphertext (rekey).
	UpdateRevealSealed(ctx context.Context, id int64, sealed []byte) error
	// DeleteReveal erases a reveal; ENOTFOUND when it is already gone, which
	// is what makes a secret show only once under concurrent requests.
	DeleteReveal(ctx context.Context, id int64) error
	// DeleteExpiredReveals erases reveals past their expiry at now.
	DeleteExpiredReveals(ctx context.Context, now time.Time) (int64, error)

	// CreateRevealPage inserts a one-time reveal page.
	CreateRevealPage(ctx context.Context, p *RevealPage) error
	// RevealPageByID returns a reveal page by the hash of its id, expired
	// or not; ENOTFOUND when there is none.
	RevealPageByID(ctx context.Context, id string) (*RevealPage, error)
	// DeleteRevealPage erases a reveal page; ENOTFOUND when it is already
	// gone, which makes a page show once under concurrent requests.
	DeleteRevealPage(ctx context.Context, id string) error
	// DeleteExpiredRevealPages erases the reveal pages past their expiry at now.
	DeleteExpiredRevealPages(ctx context.Context, now time.Time) (int64, error)

	// CreateAsset inserts a and sets a.ID; (connector, kind, external id)
	// is unique.
	CreateAsset(ctx context.Context, a *Asset) error
	// UpdateAsset writes name, attributes, last_seen and gone_at of a.ID.
	UpdateAsset(ctx context.Context, a *Asset) error
	// TouchAssets sets last_seen of many unchanged assets at once.
	TouchAssets(ctx context.Context, ids []int64, lastSeen time.Time) error
	// UpsertFinding updates the open finding of (asset, rule) or inserts
	// f; it sets f.ID.
	UpsertFinding(ctx context.Context, f *Finding) error
	// ResolveFindings resolves the connector's open findings whose ids are
	// not in keep; it returns how many it resolved.
	ResolveFindings(ctx context.Context, connectorID int64, keep []int64, at time.Time) (int64, error)
	// ResolveAssetFindings resolves the open findings of the assets
	// assetIDs whose ids are not in keep, and returns how many it resolved.
	ResolveAssetFindings(ctx context.Context, assetIDs, keep []int64, at time.Time) (int64, error)
	// CreateDrift inserts d and sets d.ID.
	CreateDrift(ctx context.Context, d *Drift) error
	// AcknowledgeDrift closes an open drift record; false when it was
	// already acknowledged.
	AcknowledgeDrift(ctx context.Context, id, userID int64, comment string, at time.Time) (bool, error)
	// PutSyncState writes a connector's sync bookkeeping.
	PutSyncState(ctx context.Context, s *SyncState) error

	// Agents.

	// CreateEnrollmentToken inserts t and sets t.ID.
	CreateEnrollmentToken(ctx context.Context, t *EnrollmentToken) error
	// ConsumeEnrollmentToken marks the token with hash used by agentID at
	// now, only when it is unused and not expired at now (one conditional
	// update, so of two racing enrollments exactly one wins); otherwise
	// ENOTFOUND. It returns the token as consumed.
	ConsumeEnrollmentToken(ctx context.Context, hash, agentID string, now time.Time) (*EnrollmentToken, error)
	// CreateAgent inserts a (its ID is set by the caller); a taken id or
	// certificate serial is ECONFLICT.
	CreateAgent(ctx context.Context, a *Agent) error
	// RecordAgentHeartbeat sets last_seen, facts, users and version of a
	// non-revoked agent; ENOTFOUND when there is none.
	RecordAgentHeartbeat(ctx context.Context, id string, at time.Time, facts, users []byte, version string) error
	// RenewAgentCert makes newSerial the agent's certificate and presented
	// its previous one, only when the agent is not revoked and presented is
	// its current or previous serial; false otherwise.
	RenewAgentCert(ctx context.Context, id, presented, newSerial string, notAfter time.Time) (bool, error)
	// RetirePrevAgentCert forgets the previous certificate once the agent
	// used current (a no-op when current is no longer the agent's).
	RetirePrevAgentCert(ctx context.Context, id, current string) error
	// SetAgentServer records the server holding the agent's poll.
	SetAgentServer(ctx context.Context, id, server string) error
	// CreateRelayedWork inserts a queued item; a taken work id is ECONFLICT.
	CreateRelayedWork(ctx context.Context, w *RelayedWork) error
	// MoveRelayedWork sets the state of an item that is in one of from and
	// reports whether it was.
	MoveRelayedWork(ctx context.Context, workID string, from []RelayState, to RelayState, at time.Time) (bool, error)
	// FinishRelayedWork makes a queued or taken item done with the agent's
	// result or the reason there is none; false when it was not.
	FinishRelayedWork(ctx context.Context, workID string, result []byte, reason string, at time.Time) (bool, error)
	DeleteRelayedWork(ctx context.Context, workID string) error
	// DeleteStaleRelayedWork removes items last updated before before.
	DeleteStaleRelayedWork(ctx context.Context, before time.Time) (int64, error)
	// RevokeAgent marks a non-revoked agent revoked at at; false when it
	// already was (ENOTFOUND when there is no such agent).
	RevokeAgent(ctx context.Context, id string, at time.Time) (bool, error)
}

// QueuedExecution is an executing request waiting for a worker, with what
// the engine needs to choose among them (per-connector limits, emergencies
// first).
type QueuedExecution struct {
	ID          int64
	ConnectorID int64
	Emergency   bool
}

// Waker is implemented by stores that can tell this process that another
// one queued work (PostgreSQL LISTEN/NOTIFY). The channel receives after a
// request was moved to executing anywhere; it is closed or never fires when
// the store cannot tell, and the engine's poll covers that.
type Waker interface {
	Wake(ctx context.Context) <-chan struct{}
}
