package app

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app/sso"
)

// IdentityProvider is an admin-configured single sign-on provider (OIDC,
// SAML, LDAP). Config is the type's non-secret settings; the secrets (client
// secret, bind password, SAML key) are sealed and never leave the server.
type IdentityProvider struct {
	ID      int64
	Name    string // shown on the login page; unique
	Type    string // a registered IdentityProviderType
	Enabled bool
	Config  json.RawMessage
	// SealedSecrets is the Sealer output over the secrets JSON; nil when none.
	SealedSecrets    []byte
	SecretsUpdatedAt time.Time // zero when none
	// Rules map groups to roles; the first rule matching one of the
	// identity's groups decides.
	Rules []RoleRule
	// DefaultRole applies when no rule matches; "" refuses the login.
	DefaultRole Role
	// MFADelegated trusts the provider's own second factor: Nexplane's MFA
	// policy is not applied to logins through it.
	MFADelegated bool
	// Version bumps on every change.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RoleRule is one group-to-role mapping rule.
type RoleRule struct {
	Group string `json:"group"`
	Role  Role   `json:"role"`
}

// SecretsAD binds a provider's sealed secrets to its row and purpose.
func (p *IdentityProvider) SecretsAD() string {
	return "identity-provider:" + strconv.FormatInt(p.ID, 10) + ":secrets"
}

// MapRole applies the rules to the groups an identity has: the first rule
// (in order) whose group the identity has wins; without one, the default
// role. ok is false when the login is refused (no match and no default).
func (p *IdentityProvider) MapRole(groups []string) (role Role, rule int, ok bool) {
	for i, r := range p.Rules {
		if slices.Contains(groups, r.Group) {
			return r.Role, i, true
		}
	}
	if p.DefaultRole != "" {
		return p.DefaultRole, -1, true
	}
	return "", -1, false
}

// maxRoleRules keeps a rule list readable on one page.
const maxRoleRules = 100

func validateRoleRules(rules []RoleRule, defaultRole Role) error {
	if len(rules) > maxRoleRules {
		return Errorf(EINVALID, "at most %d role rules", maxRoleRules)
	}
	seen := map[string]bool{}
	for i, r := range rules {
		g := strings.TrimSpace(r.Group)
		if g == "" || g != r.Group || len(g) > 256 {
			return Errorf(EINVALID, "rule %d: group must be 1 to 256 characters without surrounding spaces", i+1)
		}
		if seen[g] {
			return Errorf(EINVALID, "rule %d: group %q has a rule already (the first one would always win)", i+1, g)
		}
		seen[g] = true
		if _, err := ParseRole(string(r.Role)); err != nil {
			return Errorf(EINVALID, "rule %d: %s", i+1, err.(*Error).Message)
		}
	}
	if defaultRole != "" {
		if _, err := ParseRole(string(defaultRole)); err != nil {
			return Errorf(EINVALID, "default_role: %s (or empty to refuse logins no rule matches)", err.(*Error).Message)
		}
	}
	return nil
}

// IdentityProviderType is one kind of provider (oidc, saml, ldap). Types
// live in their own packages and register in the Registry at start-up; the
// console's form and the API's validation come from the ConfigSpec, whose
// Secret fields are sealed.
type IdentityProviderType interface {
	Type() string
	ConfigSpec() ConfigSpec
	// ValidateConfig checks the non-secret config's meaning and returns its
	// normal form.
	ValidateConfig(config json.RawMessage) (json.RawMessage, error)
}

// ProviderRun is what a protocol flow gets of a provider for one login: its
// identity, normalised config and opened secrets.
type ProviderRun struct {
	ID      int64
	Version int64
	Config  json.RawMessage
	Secrets json.RawMessage // nil when the provider has none
}

// RedirectRequest is one browser round trip through a provider: where it
// comes back to and the single-use values app keeps server-side.
type RedirectRequest struct {
	CallbackURL  string
	State        string
	Nonce        string
	CodeVerifier string
	// Now is the service clock, for token expiry checks.
	Now func() time.Time
}

// RedirectFlow is a login through the browser (OIDC, SAML): AuthURL sends
// the browser to the provider; Callback checks what it brought back.
type RedirectFlow interface {
	IdentityProviderType
	AuthURL(ctx context.Context, p ProviderRun, req RedirectRequest) (string, error)
	// Callback returns the identity the provider vouches for. Its errors
	// are *Error EUNAUTHORIZED with a reason safe to show and audit.
	Callback(ctx context.Context, p ProviderRun, req RedirectRequest, params url.Values) (sso.Identity, error)
}

// PasswordFlow is a login by username and password checked by the provider
// (LDAP/AD bind).
type PasswordFlow interface {
	IdentityProviderType
	Authenticate(ctx context.Context, p ProviderRun, username, password string) (sso.Identity, error)
}

// RegisterIdentityProvider adds a provider type; registering one twice is a bug.
func (r *Registry) RegisterIdentityProvider(t IdentityProviderType) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.idps == nil {
		r.idps = map[string]IdentityProviderType{}
	}
	if _, dup := r.idps[t.Type()]; dup {
		panic("app: identity provider type registered twice: " + t.Type())
	}
	r.idps[t.Type()] = t
}

// IdentityProviderType returns a registered provider type.
func (r *Registry) IdentityProviderType(typ string) (IdentityProviderType, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.idps[typ]
	if !ok {
		return nil, Errorf(EINVALID, "unknown identity provider type %q (known: %s)", typ, strings.Join(r.idpTypes(), ", "))
	}
	return t, nil
}

// IdentityProviderTypes lists the registered provider types, sorted.
func (r *Registry) IdentityProviderTypes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.idpTypes()
}

func (r *Registry) idpTypes() []string {
	out := make([]string, 0, len(r.idps))
	for t := range r.idps {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// UserSignIn is how one user signs in when that differs from a plain local
// account. A user without a row is local with the defaults (all false).
type UserSignIn struct {
	UserID int64
	// ProviderID and Subject link the user to one provider's stable
	// subject; 0 and "" for a local account.
	ProviderID int64
	Subject    string
	// LocalLoginDisabled refuses this user's password login.
	LocalLoginDisabled bool
	// LocalPasswordAllowed lets an SSO user have a local password too.
	LocalPasswordAllowed bool
	// DisabledByMapping is set when the group mapping (not an admin)
	// disabled the account; a later login whose groups match again
	// re-enables it.
	DisabledByMapping bool
	LastSSOLoginAt    time.Time
}

// SSO reports whether the user is linked to a provider.
func (u *UserSignIn) SSO() bool { return u != nil && u.ProviderID != 0 }

// LocalPasswordPossible reports whether the user may have a local password
// (a local account, or an SSO account an admin allowed one).
func (u *UserSignIn) LocalPasswordPossible() bool { return !u.SSO() || u.LocalPasswordAllowed }

// LocalLoginSetting is the global switch for password logins.
const LocalLoginSetting = "local_login_disabled"

// SSOLogin is a redirect login in progress, kept server-side: the state's
// hash, the browser it is bound to and the values the callback checks.
type SSOLogin struct {
	ID           string // hex SHA-256 of the state
	ProviderID   int64
	Binding      string // hex SHA-256 of the browser's cookie
	Nonce        string
	CodeVerifier string
	// DryRunUser is the admin running "try login"; 0 for a real login.
	DryRunUser int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// SSOLoginTTL is how long a browser may take at the provider.
const SSOLoginTTL = 10 * time.Minute
