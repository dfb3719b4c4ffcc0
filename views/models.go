// Package views holds the console's templ components and its embedded
// assets. Components take view models — plain structs of display-ready
// values — never domain objects, so what a page can show is decided by the
// handler that fills the model (templ's docs on view models).
package views

// Nav keys name the console's sections; Page.Nav marks the active one.
const (
	NavDashboard  = "dashboard"
	NavChanges    = "changes"
	NavAssets     = "assets"
	NavConnectors = "connectors"
	NavAgents     = "agents"
	NavAudit      = "audit"
	NavUsers      = "users"
)

// Page is what every full page needs: the title, who is logged in (nil on
// the login, setup and some error pages), the active section and a flash.
type Page struct {
	Title string
	User  *CurrentUser
	Nav   string
	Flash string
}

// CurrentUser is the logged-in user as the navigation shows them.
type CurrentUser struct {
	Email string
	Role  string
	// IsAdmin shows the Users section; the server still checks every request.
	IsAdmin bool
	// CanManageConnectors shows the Connectors section.
	CanManageConnectors bool
}

// LoginForm is the login page: the entered email is kept on error, the
// password never is.
type LoginForm struct {
	Email string
	Next  string // a local path to go to after login
	Error string
}

// SetupForm is the first-admin form behind the one-time setup link.
type SetupForm struct {
	Token string
	Email string
	Error string
}

// UsersView is the user-management page.
type UsersView struct {
	Rows   []UserRow
	Roles  []string
	Create CreateUserForm
	// Error reports a failed row action (role change, disable).
	Error string
}

// UserRow is one user in the table.
type UserRow struct {
	ID       string
	Email    string
	Role     string
	Disabled bool
	Created  string
	IsSelf   bool
}

// CreateUserForm keeps what was entered (but the password) when creation fails.
type CreateUserForm struct {
	Email string
	Role  string
	Error string
}

// AuditView is the audit log page; its results part is also an htmx fragment.
type AuditView struct {
	Filter AuditFilterForm
	Rows   []AuditRow
	// NextURL keeps the filters and adds the cursor; empty on the last page.
	NextURL string
	Error   string
}

// AuditFilterForm holds the filter values as entered, so the form shows them.
type AuditFilterForm struct {
	From         string
	To           string
	ResourceType string
	ResourceID   string
	Actor        string
	Event        string
	Limit        string
}

// AuditRow is one audit record in the table.
type AuditRow struct {
	ID        string
	Time      string
	Actor     string
	Event     string
	Resource  string
	DetailURL string
}

// AuditDetail is every field of one audit record, formatted for reading.
type AuditDetail struct {
	ID           string
	Time         string
	ActorType    string
	ActorID      string
	ActorEmail   string
	Event        string
	ResourceType string
	ResourceID   string
	Payload      string // pretty-printed JSON
	PrevHash     string
	Hash         string
}

// ErrorView is an error page. For 500s the handler passes a generic message:
// internal details are logged, never shown.
type ErrorView struct {
	Status    int
	Title     string
	Message   string
	RequestID string
}

// AuditResultsFragment is the fragment id of the audit results, which htmx
// requests swap on their own.
const AuditResultsFragment = "audit-results"

// ErrorFragment is the fragment id of an error page's message box, which an
// htmx request gets instead of a whole page.
const ErrorFragment = "error"

// Option is one choice of a select.
type Option struct {
	Value    string
	Label    string
	Selected bool
}

// ---- Connectors ----

// ConnectorsView is the connector list (admins only).
type ConnectorsView struct {
	Rows []ConnectorRow
}

// ConnectorRow is one connector in the table. No config, no credentials.
type ConnectorRow struct {
	ID                string
	Name              string
	Type              string
	RequiredApprovals string
	CredentialsSet    bool
	CredentialsAt     string // when they were last set; empty when none
	DetailURL         string
}

// FieldKind values say how a form field is rendered.
const (
	KindText     = "text"
	KindTextarea = "textarea"
	KindCheckbox = "checkbox"
	KindPassword = "password" // write-only: never has a value
)

// FormField is one input of a generated form (connector config, operation
// parameters). Value is what to show; password fields never carry one.
type FormField struct {
	ID       string // element id, unique on the page
	Name     string // form field name
	Label    string
	Kind     string
	Value    string
	Checked  bool
	Help     string
	Required bool
	TestID   string
}

// ConnectorForm is the create or edit form of a connector. Secret fields are
// write-only: the form never carries their values, not even after an error.
type ConnectorForm struct {
	// ID is empty when creating.
	ID     string
	Action string
	Name   string
	Type   string
	// Types are the connector types this server can create (creation only).
	Types             []Option
	Fields            []FormField
	Secrets           []FormField
	RequiredApprovals string
	CredentialsSet    bool
	CredentialsAt     string
	Error             string
}

// ConnectorTestResult is the outcome of a connection test.
type ConnectorTestResult struct {
	Ran     bool
	OK      bool
	Message string
}

// ConnectorDetailView is one connector: its facts, the test box, the edit
// form and the delete button.
type ConnectorDetailView struct {
	ID                string
	Name              string
	Type              string
	RequiredApprovals string
	CredentialsSet    bool
	CredentialsAt     string
	Created           string
	Updated           string
	Config            string // pretty-printed, non-secret
	Test              ConnectorTestResult
	Sync              ConnectorSyncView
	Form              ConnectorForm
	// Error reports a failed delete.
	Error string
}

// ConnectorDeleteView is the confirmation step of deleting a connector,
// which works without JavaScript.
type ConnectorDeleteView struct {
	ID   string
	Name string
	Type string
}

// ConnectorTestFragment is the fragment id of the test result box.
const ConnectorTestFragment = "connector-test"

// ---- Change requests ----

// ChangeRow is one change request in a list.
type ChangeRow struct {
	ID                string
	Title             string
	State             string
	Connector         string
	RequiredApprovals string // the connector's policy; empty when the connector is unknown
	CreatedBy         string
	Created           string
	Finished          string
	Emergency         bool
	NeedsReview       bool
	DetailURL         string
}

// ChangesView is the change request list with its filters.
type ChangesView struct {
	Status      string
	Connector   string
	States      []Option
	Connectors  []Option // empty when the role cannot list connectors
	Rows        []ChangeRow
	NextURL     string
	CanCreate   bool
	Error       string
	FilterReset bool
}

// OpTypeHelp documents one operation type on the change form.
type OpTypeHelp struct {
	Type        string
	Description string
	Fields      []string // "uid (required)"
}

// OpRowForm is one operation row of the change form.
type OpRowForm struct {
	Index  string // 0-based, in field names: op0_type
	Number string // 1-based, for labels
	Types  []Option
	Fields []FormField
}

// ChangeForm creates or edits a change request.
type ChangeForm struct {
	// ID is empty when creating.
	ID            string
	Action        string
	State         string // current state when editing
	Title         string
	Description   string
	ConnectorID   string
	ConnectorName string
	ConnectorType string
	// Choices are the connectors to pick from (step one of creation).
	Choices []Option
	OpTypes []OpTypeHelp
	Rows    []OpRowForm
	Error   string
}

// OperationView is one operation of a change request.
type OperationView struct {
	ID       string
	Number   string
	Type     string
	Params   string
	Plan     string
	Status   string
	Summary  string
	Details  string
	Error    string
	Started  string
	Finished string
	// RevealURL is set when the current user may see this operation's
	// one-time secret.
	RevealURL string
}

// ApprovalView is one decision on a change request.
type ApprovalView struct {
	Email    string
	Decision string
	Comment  string
	Revision string
	Void     bool
	At       string
}

// ChangeActions says which buttons the current user gets; the server checks
// every action again.
type ChangeActions struct {
	Edit      bool
	Submit    bool
	Approve   bool // also Reject
	Cancel    bool
	Execute   bool
	Emergency bool
	Resume    bool
	Review    bool
}

// Any reports whether any action is offered.
func (a ChangeActions) Any() bool {
	return a.Edit || a.Submit || a.Approve || a.Cancel || a.Execute || a.Emergency || a.Resume || a.Review
}

// ChangeDetailView is one change request.
type ChangeDetailView struct {
	ID                string
	URL               string
	Title             string
	Description       string
	State             string
	Connector         string
	CreatedBy         string
	Revision          string
	Created           string
	Submitted         string
	Started           string
	Finished          string
	Approvals         []ApprovalView
	ApprovalCount     string
	RequiredApprovals string // the connector's policy; empty when the connector is unknown
	Emergency         bool
	Justification     string
	NeedsReview       bool
	ReviewedBy        string
	ReviewedAt        string
	ReviewComment     string
	Operations        []OperationView
	// Polling makes the live block refresh itself while executing.
	Polling bool
	Actions ChangeActions
	Error   string
	// Revealed is a one-time secret shown once, right after the POST that
	// revealed it.
	Revealed       string
	RevealedOpName string
}

// ChangeLiveFragment is the fragment id of the status and operations block,
// which polls while the change request executes.
const ChangeLiveFragment = "change-live"

// ---- Dashboard ----

// DashboardCard is one card of change requests.
type DashboardCard struct {
	Key     string
	Title   string
	Rows    []ChangeRow
	Empty   string
	MoreURL string
}

// DashboardView is the landing page.
type DashboardView struct {
	Cards    []DashboardCard
	Findings DashboardFindings
	Drift    DashboardDrift
	Agents   DashboardAgents
	// CanAcknowledge shows the acknowledge links of drift records.
	CanAcknowledge bool
}

// DashboardFindings is the dashboard's hygiene card: open findings by
// severity and the most severe ones.
type DashboardFindings struct {
	High   string
	Medium string
	Low    string
	Total  string
	Rows   []FindingRow
}

// DashboardDrift is the dashboard's card of out-of-band changes nobody has
// acknowledged yet.
type DashboardDrift struct {
	Rows []DriftRow
	// More is set when there are more open records than shown.
	More bool
}

// ---- Assets ----

// AssetsView is the asset inventory page; its results part is also an htmx
// fragment.
type AssetsView struct {
	Filter     AssetFilterForm
	Connectors []Option
	Kinds      []Option
	Findings   []Option // "any" and the rules with open findings
	Rows       []AssetRow
	NextURL    string
	Error      string
}

// AssetFilterForm holds the asset filters as entered.
type AssetFilterForm struct {
	Text        string
	IncludeGone bool
}

// AssetRow is one asset in the inventory table.
type AssetRow struct {
	ID        string
	Name      string
	Kind      string
	Connector string
	LastSeen  string
	Gone      bool
	// Findings are the open findings' severities, most severe first.
	Findings  []FindingBadge
	DetailURL string
}

// FindingBadge is one open finding as a pill: its severity and rule.
type FindingBadge struct {
	Severity string
	Rule     string
}

// AssetsResultsFragment is the fragment id of the asset results.
const AssetsResultsFragment = "asset-results"

// AttributeRow is one attribute of an asset, formatted for reading.
type AttributeRow struct {
	Key   string
	Value string
	// Multiline values (JSON, lists of many items) are shown preformatted.
	Multiline bool
}

// FindingRow is one finding.
type FindingRow struct {
	ID        string
	Rule      string
	Severity  string
	Message   string
	Open      bool
	FirstSeen string
	LastSeen  string
	Resolved  string
	AssetName string
	AssetURL  string
	// RemedyURL opens the change request form pre-filled with the fix;
	// empty when there is none or the user may not write change requests.
	RemedyURL string
}

// AssetDetailView is one asset with its findings and, when it is a
// credential the user may revoke, the revoke form.
type AssetDetailView struct {
	ID         string
	URL        string
	Name       string
	Kind       string
	ExternalID string
	Connector  string
	FirstSeen  string
	LastSeen   string
	Gone       string // when it disappeared; empty while present
	Attributes []AttributeRow
	Findings   []FindingRow
	OpenCount  string
	// Revoke is "" (no revoke form), RevokeEmergency or RevokeSubmit.
	Revoke string
	Error  string
}

// Revoke modes of the asset page.
const (
	RevokeEmergency = "emergency" // an admin: runs at once as an emergency change
	RevokeSubmit    = "submit"    // an operator: submitted for approval
)

// ---- Drift ----

// DriftRow is one out-of-band change in a list.
type DriftRow struct {
	ID         string
	AssetName  string
	AssetURL   string
	Kind       string
	Connector  string
	Change     string
	DetectedAt string
	DetailURL  string
}

// DriftAttrRow is one attribute before and after an out-of-band change.
type DriftAttrRow struct {
	Key     string
	Before  string
	After   string
	Changed bool
}

// DriftDetailView is one drift record with its before/after attributes
// side by side and, while open, the acknowledge form.
type DriftDetailView struct {
	ID             string
	URL            string
	AssetName      string
	AssetURL       string
	Kind           string
	ExternalID     string
	Connector      string
	Change         string
	DetectedAt     string
	Rows           []DriftAttrRow
	Acknowledged   bool
	AcknowledgedBy string
	AcknowledgedAt string
	AckComment     string
	CanAcknowledge bool
	Error          string
}

// ---- Connector sync ----

// ConnectorSyncView is the sync part of a connector's page: the state of
// the last sync and, right after "Sync now", its result.
type ConnectorSyncView struct {
	ConnectorID  string
	Never        bool // no sync has run yet
	LastStarted  string
	LastFinished string
	LastError    string
	Assets       string
	NextDue      string
	// Result of the sync just run.
	Ran    bool
	OK     bool
	Result []SyncCount
	Error  string
}

// SyncCount is one number of a sync result ("appeared", "3").
type SyncCount struct {
	Key   string
	Label string
	Value string
}

// ConnectorSyncFragment is the fragment id of the sync box.
const ConnectorSyncFragment = "connector-sync"

// ---- Agents ----

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

// EnrollmentTokenView is the one page that shows a new token: the command
// to run on the host. Nothing else ever shows the token again.
type EnrollmentTokenView struct {
	Command string
	Expires string
	Labels  []string
	// URLMissing says the server does not know the agent listener's
	// public address, so the command has a placeholder to replace.
	URLMissing bool
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
	Error      string
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

// DashboardAgents is the dashboard's agents card.
type DashboardAgents struct {
	Online  string
	Offline string
	Revoked string
}
