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
	// NavTokens is the user's own API tokens; NavServiceAccounts the
	// admin's service accounts.
	NavTokens          = "tokens"
	NavServiceAccounts = "service-accounts"
)

// Page is what every full page needs: the title, who is logged in (nil on
// the login, setup and some error pages), the active section and a flash.
// FlashError marks the flash as a refusal (styled apart, role="alert").
type Page struct {
	Title      string
	User       *CurrentUser
	Nav        string
	Flash      string
	FlashError bool
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
