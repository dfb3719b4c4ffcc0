package views

// LoginProvider is a single sign-on button on the login page, or a
// username and password form for a directory (LDAP/AD) provider.
type LoginProvider struct {
	Name   string
	Action string // POST target that starts the login
	TestID string
	// Password asks for a username and password checked by the provider.
	Password bool
	// Username is kept after a refused password login.
	Username string
}

// IdentityProvidersView is the admin list of identity providers and the
// global password sign-in switch.
type IdentityProvidersView struct {
	Rows []IdentityProviderRow
	// LocalLoginDisabled is the global switch: password sign-in is off.
	LocalLoginDisabled bool
	// CallbackPattern shows admins the redirect URI to register.
	CallbackPattern string
	Types           []Option
}

// IdentityProviderRow is one provider in the list. No config, no secrets.
type IdentityProviderRow struct {
	ID        string
	Name      string
	Type      string
	Enabled   bool
	Rules     string // how many rules, and the default
	DetailURL string
}

// IdentityProviderForm is the create or edit form. Secret fields are
// write-only: the form never carries their values.
type IdentityProviderForm struct {
	ID          string // empty when creating
	Action      string
	Name        string
	Type        string
	Fields      []FormField
	Secrets     []FormField
	SecretsSet  bool
	SecretsAt   string
	Rules       string // "group=role" lines, in order
	DefaultRole []Option
	// MFADelegated trusts the provider's own second factor.
	MFADelegated bool
	Error        string
}

// IdentityProviderDetailView is one provider: facts, callback URL, the
// enable switch, "try login", the edit form and delete.
type IdentityProviderDetailView struct {
	ID          string
	Name        string
	Type        string
	Enabled     bool
	CallbackURL string
	Form        IdentityProviderForm
	EnableURL   string
	TryURL      string
	DeleteURL   string
}

// TryLoginView is the report of a "try login" dry run.
type TryLoginView struct {
	ProviderName string
	DetailURL    string
	Subject      string
	Email        string
	Name         string
	Groups       []string
	Claims       string // pretty-printed JSON
	Role         string
	Rule         string
	Outcome      string
	Refusal      string
	LinkedUser   string
}

// UserSignInView is how one user signs in, on the user's page.
type UserSignInView struct {
	Action string
	// Provider names the identity provider the account is linked to;
	// empty for a local account.
	Provider string
	Subject  string
	// LocalLoginDisabled: this user's password sign-in is off.
	LocalLoginDisabled bool
	// LocalPasswordAllowed: an SSO user may have a local password.
	LocalPasswordAllowed bool
	// PasswordPossible: the user may have a password (reset links).
	PasswordPossible bool
}
