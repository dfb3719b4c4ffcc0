package ldapauth

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/sso"
)

// Type is the identity provider type this package registers.
const Type = "ldap"

// Secrets are a provider's sealed settings.
type Secrets struct {
	BindPassword string `json:"bind_password"`
}

var spec = app.ConfigSpec{
	Label: "LDAP / Active Directory",
	Fields: []app.ConfigField{
		{Name: "url", Label: "URL", Type: app.ConfigText, Required: true, Locates: true,
			Help: "ldaps://dc1.example.org:636, or ldap://host:389 with StartTLS (plain ldap:// only to localhost)"},
		{Name: "start_tls", Label: "StartTLS", Type: app.ConfigBool, Locates: true,
			Help: "Upgrade an ldap:// connection to TLS before any bind"},
		{Name: "ca_pem", Label: "CA certificate(s) (PEM)", Type: app.ConfigMultiline, Locates: true,
			Help: "Pins the CA that issued the directory's certificate; empty trusts the system pool"},
		{Name: "bind_dn", Label: "Bind DN", Type: app.ConfigText, Required: true, Locates: true,
			Help: "The service account that searches users"},
		{Name: "base_dn", Label: "User base DN", Type: app.ConfigText, Required: true,
			Help: "Where users are searched (whole subtree)"},
		{Name: "user_filter", Label: "User filter", Type: app.ConfigText, Required: true,
			Help: "%s is the username typed, escaped: (uid=%s), (sAMAccountName=%s) or (mail=%s)"},
		{Name: "subject_attr", Label: "Subject attribute", Type: app.ConfigText, Default: DefaultSubjectAttr,
			Help: "The stable id accounts are linked by: entryUUID (OpenLDAP), objectGUID (AD), nsUniqueId (389-DS)"},
		{Name: "email_attr", Label: "Email attribute", Type: app.ConfigText, Default: DefaultEmailAttr},
		{Name: "name_attr", Label: "Name attribute", Type: app.ConfigText, Default: DefaultNameAttr,
			Help: "cn, or displayName on AD"},
		{Name: "group_base_dn", Label: "Group base DN", Type: app.ConfigText,
			Help: "Only groups under it count; empty keeps every memberOf value"},
		{Name: "group_filter", Label: "Group filter", Type: app.ConfigText,
			Help: "Finds the user's groups under the group base DN, %s is the user's DN: (&(objectClass=groupOfNames)(member=%s)); empty reads memberOf"},
		{Name: "timeout_seconds", Label: "Timeout (seconds)", Type: app.ConfigNumber, Default: int(DefaultTimeout.Seconds()),
			Help: "Bounds one whole login"},
		{Name: "bind_password", Label: "Bind password", Type: app.ConfigText, Secret: true, Required: true},
	},
}

// Provider is the ldap identity provider type: a password flow that binds
// against the directory on every login.
type Provider struct{}

// Register adds the ldap type to reg.
func Register(reg *app.Registry) { reg.RegisterIdentityProvider(Provider{}) }

// Type implements app.IdentityProviderType.
func (Provider) Type() string { return Type }

// ConfigSpec implements app.IdentityProviderType.
func (Provider) ConfigSpec() app.ConfigSpec { return spec }

// placeholderPassword lets Validate check a config without the secret,
// which is sealed separately and never part of the stored config.
const placeholderPassword = "validated-separately"

// ValidateConfig implements app.IdentityProviderType.
func (Provider) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	var c Config
	if err := app.DecodeStrictJSON(raw, &c); err != nil {
		return nil, app.Errorf(app.EINVALID, "ldap config: %s", err)
	}
	c.BindPassword = placeholderPassword
	if err := c.Validate(); err != nil {
		return nil, err
	}
	out, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("ldap config: %w", err)
	}
	return out, nil
}

// Authenticate implements app.PasswordFlow.
func (Provider) Authenticate(ctx context.Context, run app.ProviderRun, username, password string) (sso.Identity, error) {
	var c Config
	if err := json.Unmarshal(run.Config, &c); err != nil {
		return sso.Identity{}, fmt.Errorf("ldap provider %d: decode config: %w", run.ID, err)
	}
	var s Secrets
	if len(run.Secrets) > 0 {
		if err := json.Unmarshal(run.Secrets, &s); err != nil {
			return sso.Identity{}, fmt.Errorf("ldap provider %d: decode secrets: %w", run.ID, err)
		}
	}
	c.BindPassword = s.BindPassword
	return Authenticate(ctx, c, username, password)
}
