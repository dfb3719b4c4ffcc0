package views

// TokensView is a page of API tokens: one's own (/account/tokens) or, for
// admins, a user's or service account's (/users/{id}/tokens).
type TokensView struct {
	// Heading names whose tokens these are ("Your API tokens", ...).
	Heading string
	// Owner is the owner's email or service account name.
	Owner string
	// IsServiceAccount marks a service account's page.
	IsServiceAccount bool
	// BasePath is where the page lives; forms post below it.
	BasePath string
	Rows     []TokenRow
	// CanCreate shows the create form (own tokens; an admin on a service
	// account's page). People create their own tokens only.
	CanCreate bool
	Create    TokenForm
}

// TokenRow is one token in the table. Times are formatted; empty LastUsed
// means never.
type TokenRow struct {
	ID            string
	Name          string
	Role          string
	Status        string // active, expired, revoked
	Created       string
	Expires       string
	LastUsed      string
	LastUsedIP    string
	LastUsedAgent string
	CanRevoke     bool
}

// TokenForm keeps what was entered when creation fails.
type TokenForm struct {
	Name    string
	Expires string // yyyy-mm-dd; empty: the default (90 days)
	Role    string
	Roles   []string
	// MaxExpires is the latest date allowed (yyyy-mm-dd), for the date input.
	MaxExpires string
	Error      string
}

// ServiceAccountsView is the admin's service accounts page.
type ServiceAccountsView struct {
	Rows   []ServiceAccountRow
	Roles  []string
	Create ServiceAccountForm
}

// ServiceAccountRow is one service account.
type ServiceAccountRow struct {
	ID       string
	Name     string
	Role     string
	Disabled bool
	Created  string
}

// ServiceAccountForm keeps what was entered when creation fails.
type ServiceAccountForm struct {
	Name  string
	Role  string
	Error string
}
