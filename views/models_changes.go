package views

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
	// Focus puts the keyboard on the type select: a row just added.
	Focus bool
}

// ChangeForm creates or edits a change request.
type ChangeForm struct {
	// ID is empty when creating.
	ID     string
	Action string
	State  string // current state when editing
	// VoidsApprovals warns that saving sends the request back to draft.
	VoidsApprovals bool
	Title          string
	Description    string
	ConnectorID    string
	ConnectorName  string
	ConnectorType  string
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

// TimelineEntryView is one step of a change request's history.
type TimelineEntryView struct {
	Kind     string // the step (app.TimelineKind), for styling and tests
	Title    string // what happened, in words
	Actor    string // who: an email, or the part of Nexplane that acted
	System   bool   // Nexplane itself acted, not a person
	At       string // UTC, ISO 8601
	Ago      string // a relative hint: "5 minutes ago"
	Detail   string // a comment, a reason, a result's summary or an error
	Outcome  string // an operation's or the request's result, for a badge
	Duration string
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

// ChangeActions says which buttons the current user gets, as app decided
// (app.ChangeActions); the server checks every action again.
type ChangeActions struct {
	Edit      bool
	Submit    bool
	Approve   bool
	Reject    bool
	Cancel    bool
	Execute   bool
	Emergency bool
	Resume    bool
	Review    bool
	// RerunUnknown runs again an operation whose outcome reconciliation
	// could not tell.
	RerunUnknown bool
}

// Any reports whether any action is offered.
func (a ChangeActions) Any() bool {
	return a.Edit || a.Submit || a.Approve || a.Reject || a.Cancel || a.Execute || a.Emergency || a.Resume || a.Review || a.RerunUnknown
}

// ChangeDetailView is one change request.
type ChangeDetailView struct {
	ID          string
	URL         string
	Title       string
	Description string
	State       string
	Connector   string
	CreatedBy   string
	// Contributors are the emails of everyone who created or edited a
	// revision, comma separated; none of them may approve it.
	Contributors      string
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
	// Timeline is the request's history, oldest step first; it is the
	// main content and grows while the request executes.
	Timeline []TimelineEntryView
	// TimelineTruncated says the oldest steps were left out; AuditURL
	// lists them all in the audit log.
	TimelineTruncated bool
	AuditURL          string
	// ExecutedBy is who started the execution ("" when it never ran);
	// ExecutedEmergency that it ran without approvals.
	ExecutedBy        string
	ExecutedEmergency bool
	// Duration is the execution's, from its start to its result.
	Duration string
	// Polling makes the live block refresh itself while executing.
	Polling bool
	// InterruptCause is why execution last stopped before it finished,
	// shown while the request is interrupted or running again after it.
	InterruptCause string
	Actions        ChangeActions
	// Changed is set when a decision was refused because the request
	// changed since the approver opened it; the page shows the new revision.
	Changed bool
	// Kept is what the user typed into a form whose action was refused,
	// put back so that nothing is lost.
	Kept KeptChangeInput
}

// KeptChangeInput is the text of the detail page's action forms.
type KeptChangeInput struct {
	DecisionComment string
	Justification   string
	ReviewComment   string
}

// ChangeLiveFragment is the fragment id of the status and operations block,
// which polls while the change request executes.
const ChangeLiveFragment = "change-live"
