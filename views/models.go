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
