// Package sso holds what single sign-on providers (OIDC, SAML, LDAP/AD) have
// in common: the identity a provider vouches for after a successful login.
// Each protocol lives in its own subpackage and returns an Identity; app
// decides what that identity may do (account linking, group-to-role mapping).
package sso

// Identity is what an identity provider vouched for in one successful login.
type Identity struct {
	// Subject is the provider's stable, provider-scoped id for the person
	// (OIDC "sub", SAML NameID or a configured attribute, LDAP entryUUID).
	// Accounts are linked by it, never by email: emails get reused.
	Subject string
	Email   string
	Name    string
	// Groups are the group names or claim values the mapping rules match.
	Groups []string
	// Claims is everything received, for the admin's "try login" dry run.
	// It never holds secrets (no tokens, no passwords).
	Claims map[string]any
}
