// Package ldapauth signs people in against an LDAP directory or Active
// Directory: bind as a service account, find exactly one user by a
// configured filter, bind as that user with the password typed, and read the
// user's groups. It returns an sso.Identity; what that identity may do is
// app's decision.
//
// It needs nothing from app's store or console: the caller (the identity
// provider framework) keeps a Config per provider, with BindPassword taken
// from the vault, and calls Authenticate on each login attempt.
package ldapauth

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/tlspolicy"
)

// Config is one LDAP/AD identity provider. Everything but BindPassword is
// plain configuration; BindPassword is a secret the caller seals in the
// vault (it has no JSON name, so the config never carries it).
type Config struct {
	// URL is ldap://host[:389] or ldaps://host[:636].
	URL string `json:"url"`
	// StartTLS upgrades an ldap:// connection before any bind. ldap://
	// without it sends passwords in clear text, which Validate allows only
	// to a loopback host (labs).
	StartTLS bool `json:"start_tls,omitempty"`
	// CAPEM pins the CA(s) that issued the directory's certificate; empty
	// trusts the system pool.
	CAPEM string `json:"ca_pem,omitempty"`

	// BindDN and BindPassword are the service account that searches users.
	BindDN       string `json:"bind_dn"`
	BindPassword string `json:"-"`

	// BaseDN is where users are searched (whole subtree).
	BaseDN string `json:"base_dn"`
	// UserFilter finds the user; each %s is replaced by the typed username,
	// escaped (RFC 4515): (uid=%s), (sAMAccountName=%s), (mail=%s).
	UserFilter string `json:"user_filter"`

	// SubjectAttr is the stable id accounts are linked by: entryUUID
	// (OpenLDAP, the default), objectGUID (AD), nsUniqueId (389-DS).
	SubjectAttr string `json:"subject_attr,omitempty"`
	// EmailAttr defaults to mail, NameAttr to cn (displayName on AD).
	EmailAttr string `json:"email_attr,omitempty"`
	NameAttr  string `json:"name_attr,omitempty"`

	// GroupBaseDN limits which groups count: with GroupFilter, where groups
	// are searched; with memberOf, only groups under it are kept. Empty
	// keeps every memberOf value.
	GroupBaseDN string `json:"group_base_dn,omitempty"`
	// GroupFilter, when set, finds the user's groups by a search under
	// GroupBaseDN; %s is the user's DN, escaped:
	// (&(objectClass=groupOfNames)(member=%s)). When empty, groups come
	// from the user's memberOf attribute (AD, or OpenLDAP's memberof
	// overlay).
	GroupFilter string `json:"group_filter,omitempty"`

	// TimeoutSeconds bounds one whole login (connect, binds, searches);
	// 0 means DefaultTimeout.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// Defaults Validate fills in.
const (
	DefaultSubjectAttr = "entryUUID"
	DefaultEmailAttr   = "mail"
	DefaultNameAttr    = "cn"
	DefaultTimeout     = 10 * time.Second
	maxTimeoutSeconds  = 120
)

// String and Format keep BindPassword out of logs and %v.
func (c Config) String() string {
	return fmt.Sprintf("ldap identity provider %s as %s", c.URL, c.BindDN)
}

// Format prints String for every verb, so %#v cannot leak BindPassword.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue is String, for slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Timeout is the bound on one login.
func (c *Config) Timeout() time.Duration {
	if c.TimeoutSeconds <= 0 {
		return DefaultTimeout
	}
	return time.Duration(c.TimeoutSeconds) * time.Second
}

var attrRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]{0,63}|[0-9]+(\.[0-9]+)+)$`)

// Validate checks c and fills in the defaults (attribute names, URL port),
// so a caller stores the normal form. Its errors are app EINVALID errors
// whose messages name the field; they never quote BindPassword or CAPEM.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return app.Errorf(app.EINVALID, "ldap identity provider: "+format, args...)
	}
	u, err := normaliseURL(c.URL)
	if err != nil {
		return bad("url %s", err)
	}
	c.URL = u.String()
	ldaps := u.Scheme == "ldaps"
	switch {
	case ldaps && c.StartTLS:
		return bad("start_tls applies to ldap:// only; ldaps:// is TLS from the start")
	case !ldaps && !c.StartTLS && !app.IsLoopbackHost(u.Hostname()):
		return bad("ldap:// without start_tls would send passwords in clear text to %s; turn on start_tls or use ldaps:// (plain ldap:// is allowed to localhost only)", u.Hostname())
	}
	if c.CAPEM != "" {
		if _, err := tlspolicy.ParseCAPEM(c.CAPEM); err != nil {
			return bad("ca_pem %s", err)
		}
	}
	if c.BindDN == "" || c.BindPassword == "" {
		// An empty password would be an unauthenticated bind, which many
		// directories accept as anonymous.
		return bad("bind_dn and the bind password are required (the service account that searches users)")
	}
	if _, err := ldap.ParseDN(c.BindDN); err != nil {
		return bad("bind_dn %q is not a DN", c.BindDN)
	}
	if _, err := ldap.ParseDN(c.BaseDN); err != nil || c.BaseDN == "" {
		return bad("base_dn %q is not a DN (where users are searched, e.g. ou=people,dc=example,dc=org)", c.BaseDN)
	}
	if err := checkFilter("user_filter", c.UserFilter, "(uid=%s), (sAMAccountName=%s) or (mail=%s)"); err != nil {
		return err
	}
	if c.GroupBaseDN != "" {
		if _, err := ldap.ParseDN(c.GroupBaseDN); err != nil {
			return bad("group_base_dn %q is not a DN", c.GroupBaseDN)
		}
	}
	if c.GroupFilter != "" {
		if c.GroupBaseDN == "" {
			return bad("group_filter needs group_base_dn (where groups are searched)")
		}
		if err := checkFilter("group_filter", c.GroupFilter, "(&(objectClass=groupOfNames)(member=%s))"); err != nil {
			return err
		}
	}
	for _, a := range []struct {
		field string
		v     *string
		def   string
	}{{"subject_attr", &c.SubjectAttr, DefaultSubjectAttr}, {"email_attr", &c.EmailAttr, DefaultEmailAttr}, {"name_attr", &c.NameAttr, DefaultNameAttr}} {
		if *a.v == "" {
			*a.v = a.def
		}
		if !attrRE.MatchString(*a.v) {
			return bad("%s %q is not an attribute name", a.field, *a.v)
		}
	}
	if c.TimeoutSeconds < 0 || c.TimeoutSeconds > maxTimeoutSeconds {
		return bad("timeout_seconds must be between 1 and %d (0 means %s)", maxTimeoutSeconds, DefaultTimeout)
	}
	return nil
}

// checkFilter wants a parenthesised filter with %s that still parses once
// %s is filled in.
func checkFilter(field, f, example string) error {
	if !strings.Contains(f, "%s") || !strings.HasPrefix(f, "(") {
		return app.Errorf(app.EINVALID, "ldap identity provider: %s must be a filter with %%s where the value goes, like %s", field, example)
	}
	if _, err := ldap.CompileFilter(fillFilter(f, "x")); err != nil {
		return app.Errorf(app.EINVALID, "ldap identity provider: %s %q does not parse: %s", field, f, strings.TrimPrefix(err.Error(), "LDAP Result Code 201 \"Filter Compile Error\": "))
	}
	return nil
}

// fillFilter puts value, escaped, wherever the filter has %s. Escaping makes
// "*)(uid=*" a literal, so a username cannot widen the search.
func fillFilter(filter, value string) string {
	return strings.ReplaceAll(filter, "%s", ldap.EscapeFilter(value))
}

func normaliseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return nil, fmt.Errorf("%q is not a URL like ldaps://dc1.example.org:636 or ldap://ldap.example.org:389", s)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	port := map[string]string{"ldap": "389", "ldaps": "636"}[u.Scheme]
	switch {
	case port == "":
		return nil, fmt.Errorf("scheme must be ldap or ldaps, not %q", u.Scheme)
	case u.User != nil:
		return nil, fmt.Errorf("must not contain a user or password; use bind_dn")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("must be only scheme://host:port (put DNs in base_dn)")
	case u.Hostname() == "":
		return nil, fmt.Errorf("has no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return &url.URL{Scheme: u.Scheme, Host: net.JoinHostPort(strings.ToLower(u.Hostname()), port)}, nil
}
