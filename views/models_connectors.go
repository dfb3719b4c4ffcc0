package views

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
	KindNumber   = "number"   // a whole number
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
	// Types are the connector types this server can create (creation only),
	// each with its own settings; the form shows those of the checked one.
	Types []ConnectorTypeChoice
	// Fields and Secrets are the settings of the edited connector's type
	// (editing only).
	Fields            []FormField
	Secrets           []FormField
	RequiredApprovals string
	CredentialsSet    bool
	CredentialsAt     string
	Error             string
}

// ConnectorTypeChoice is one type of the create form's type choice with the
// inputs of its settings. Input names carry the type ("ldap.url"), so every
// type's inputs can be on the page at once and only the chosen one's count.
type ConnectorTypeChoice struct {
	Value       string
	Label       string
	Description string
	Checked     bool
	Fields      []FormField
	Secrets     []FormField
}

// ConnectorTestResult is the outcome of a connection test.
type ConnectorTestResult struct {
	Ran     bool
	OK      bool
	Message string
	// ConnectorID and CanTest offer "Test again" after a failure.
	ConnectorID string
	CanTest     bool
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
	// Actions are the buttons app allows on this connector now.
	Actions ConnectorActions
	// Error reports a failed delete.
	Error string
}

// ConnectorActions are the actions app allows on a connector; the server
// checks each again.
type ConnectorActions struct {
	Edit, Test, Sync, Delete bool
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
