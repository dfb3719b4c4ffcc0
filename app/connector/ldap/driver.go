// Package ldap is the connector for LDAP directories (OpenLDAP with the
// ppolicy overlay is the reference server): users are inetOrgPerson entries
// under user_base, groups are groupOfNames entries under group_base.
//
// Every DN we build escapes its values (RFC 4514) and every filter escapes
// its assertion values (RFC 4515), even though operation parameters are
// already restricted to safe alphabets: the validation is the first wall,
// the escaping the second.
package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/tlspolicy"
)

// Type is the connector type name.
const Type = "ldap"

// Driver implements app.ConnectorDriver for LDAP directories.
type Driver struct{}

var _ app.ConnectorDriver = Driver{}

// Type returns "ldap".
func (Driver) Type() string { return Type }

// Config is the non-secret connector configuration.
type Config struct {
	// URL is ldap://host[:port] (StartTLS is then required) or
	// ldaps://host[:port].
	URL string `json:"url"`
	// InsecureNoTLS skips StartTLS on ldap:// so the bind password crosses
	// the network in clear text. For tests and labs only.
	InsecureNoTLS bool `json:"insecure_no_tls,omitempty"`
	// CAPEM is a PEM bundle of CA certificates trusted for the server;
	// empty means the system roots.
	CAPEM string `json:"ca_pem,omitempty"`
	// TLSSkipVerify accepts any server certificate (discouraged: it allows
	// a man in the middle to collect the bind password).
	TLSSkipVerify     bool     `json:"tls_skip_verify,omitempty"`
	BindDN            string   `json:"bind_dn"`
	BaseDN            string   `json:"base_dn"`
	UserBase          string   `json:"user_base"`
	GroupBase         string   `json:"group_base"`
	UserObjectClasses []string `json:"user_object_classes,omitempty"`

	// Hygiene policy and sync schedule; all optional. The normal form
	// always carries them, defaults filled in.

	// PasswordMaxAgeDays is the password age (1 to 3650 days) past which
	// ldap.user.password_too_old fires; default 90.
	PasswordMaxAgeDays *int `json:"password_max_age_days,omitempty"`
	// PrivilegedGroups are group cns whose members must not be locked
	// accounts (ldap.user.locked_but_privileged); default ["admins"]. An
	// explicit empty list means none.
	PrivilegedGroups []string `json:"privileged_groups"`
	// SyncInterval is how often the inventory is read (app.ParseSyncInterval);
	// default app.DefaultSyncInterval.
	SyncInterval string `json:"sync_interval,omitempty"`
}

// Policy defaults and bounds.
const (
	DefaultPasswordMaxAgeDays = 90
	maxPasswordMaxAgeDays     = 3650
	maxPrivilegedGroups       = 100
)

// DefaultPrivilegedGroups is the privileged_groups default.
var DefaultPrivilegedGroups = []string{"admins"}

// DefaultUserObjectClasses are the object classes of created users.
var DefaultUserObjectClasses = []string{"top", "person", "organizationalPerson", "inetOrgPerson"}

// Credentials is the secret connector configuration.
type Credentials struct {
	BindPassword string `json:"bind_password"`
}

// String, Format and LogValue keep the password out of logs and errors
// even when a Credentials value is printed by mistake.
func (Credentials) String() string { return "[redacted]" }

// Format implements fmt.Formatter so %v, %+v, %#v and %s all redact.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer.
func (Credentials) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// ValidateConfig checks the config and returns its normal form: default
// port made explicit, DNs in go-ldap's normal form (lower-case attribute
// types, no spaces), default object classes filled in.
func (Driver) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("ldap: encode config: %w", err)
	}
	return out, nil
}

var objectClassRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)

// parseConfig decodes strictly, validates and normalises. Connect calls it
// too, so a config edited behind the application's back is still checked.
func parseConfig(raw json.RawMessage) (*Config, error) {
	var cfg Config
	if err := app.DecodeStrictJSON(raw, &cfg); err != nil {
		return nil, app.Errorf(app.EINVALID, "ldap config: %s", err)
	}
	u, err := normaliseURL(cfg.URL)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "ldap config: url: %s", err)
	}
	cfg.URL = u
	ldaps := strings.HasPrefix(u, "ldaps://")
	switch {
	case cfg.InsecureNoTLS && ldaps:
		return nil, app.Errorf(app.EINVALID, "ldap config: insecure_no_tls only applies to ldap:// URLs; ldaps:// is always TLS")
	case cfg.InsecureNoTLS && (cfg.CAPEM != "" || cfg.TLSSkipVerify):
		return nil, app.Errorf(app.EINVALID, "ldap config: insecure_no_tls disables TLS, so ca_pem and tls_skip_verify make no sense with it")
	case cfg.TLSSkipVerify && cfg.CAPEM != "":
		return nil, app.Errorf(app.EINVALID, "ldap config: ca_pem is ignored when tls_skip_verify is true; set only one (prefer ca_pem)")
	}
	if host := hostOf(u); cfg.InsecureNoTLS && !app.IsLoopbackHost(host) {
		return nil, app.Errorf(app.EINVALID, "ldap config: insecure_no_tls is allowed only for a directory on this machine "+
			"(localhost, 127.0.0.0/8, ::1), not %s: anywhere else the bind password would cross the network in clear text; use StartTLS or ldaps://", host)
	}
	if cfg.CAPEM != "" {
		if _, err := tlspolicy.ParseCAPEM(cfg.CAPEM); err != nil {
			return nil, app.Errorf(app.EINVALID, "ldap config: ca_pem: %s", err)
		}
	}

	bind, err := parseDNField("bind_dn", cfg.BindDN)
	if err != nil {
		return nil, err
	}
	base, err := parseDNField("base_dn", cfg.BaseDN)
	if err != nil {
		return nil, err
	}
	users, err := parseDNField("user_base", cfg.UserBase)
	if err != nil {
		return nil, err
	}
	groups, err := parseDNField("group_base", cfg.GroupBase)
	if err != nil {
		return nil, err
	}
	for name, d := range map[string]*ldap.DN{"user_base": users, "group_base": groups} {
		if !d.EqualFold(base) && !base.AncestorOfFold(d) {
			return nil, app.Errorf(app.EINVALID, "ldap config: %s %s is not under base_dn %s", name, d, base)
		}
	}
	cfg.BindDN, cfg.BaseDN, cfg.UserBase, cfg.GroupBase = bind.String(), base.String(), users.String(), groups.String()

	if len(cfg.UserObjectClasses) == 0 {
		cfg.UserObjectClasses = append([]string(nil), DefaultUserObjectClasses...)
	}
	hasInetOrgPerson := false
	for _, oc := range cfg.UserObjectClasses {
		if !objectClassRE.MatchString(oc) {
			return nil, app.Errorf(app.EINVALID, "ldap config: user_object_classes: %q is not an object class name", oc)
		}
		// We write uid and mail, which inetOrgPerson allows.
		hasInetOrgPerson = hasInetOrgPerson || strings.EqualFold(oc, "inetOrgPerson")
	}
	if !hasInetOrgPerson {
		return nil, app.Errorf(app.EINVALID, "ldap config: user_object_classes must include inetOrgPerson (users get uid and mail)")
	}
	if err := normalisePolicy(&cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// normalisePolicy checks and defaults the hygiene and sync settings.
func normalisePolicy(cfg *Config) error {
	if cfg.PasswordMaxAgeDays == nil {
		d := DefaultPasswordMaxAgeDays
		cfg.PasswordMaxAgeDays = &d
	} else if d := *cfg.PasswordMaxAgeDays; d < 1 || d > maxPasswordMaxAgeDays {
		return app.Errorf(app.EINVALID, "ldap config: password_max_age_days must be between 1 and %d, not %d", maxPasswordMaxAgeDays, d)
	}

	if cfg.PrivilegedGroups == nil {
		cfg.PrivilegedGroups = append([]string(nil), DefaultPrivilegedGroups...)
	}
	if len(cfg.PrivilegedGroups) > maxPrivilegedGroups {
		return app.Errorf(app.EINVALID, "ldap config: privileged_groups: at most %d", maxPrivilegedGroups)
	}
	seen := map[string]bool{}
	for _, g := range cfg.PrivilegedGroups {
		if err := validateGroup("privileged_groups: group", g); err != nil {
			return app.Errorf(app.EINVALID, "ldap config: %s", app.ErrMessage(err))
		}
		if seen[strings.ToLower(g)] {
			return app.Errorf(app.EINVALID, "ldap config: privileged_groups: %q is listed twice", g)
		}
		seen[strings.ToLower(g)] = true
	}

	d, err := app.ParseSyncInterval(cfg.SyncInterval, app.DefaultSyncInterval)
	if err != nil {
		return app.Errorf(app.EINVALID, "ldap config: %s", app.ErrMessage(err))
	}
	cfg.SyncInterval = app.FormatSyncInterval(d)
	return nil
}

// normaliseURL accepts ldap:// and ldaps:// with a host, an optional port
// and nothing else, and returns scheme://host:port.
func normaliseURL(s string) (string, error) {
	if s == "" {
		return "", errors.New("is required (ldap://host:389 or ldaps://host:636)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("is not a valid URL (expected ldap://host:389 or ldaps://host:636)")
	}
	scheme := strings.ToLower(u.Scheme)
	port := map[string]string{"ldap": "389", "ldaps": "636"}[scheme]
	if port == "" {
		return "", fmt.Errorf("scheme must be ldap or ldaps, not %q", u.Scheme)
	}
	if u.User != nil {
		return "", errors.New("must not contain a user or password; use bind_dn and the credentials")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("must be only scheme://host:port (put DNs in base_dn, user_base and group_base)")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errors.New("has no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// hostOf is the host of a URL normaliseURL returned.
func hostOf(normalised string) string {
	u, err := url.Parse(normalised)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func parseDNField(name, s string) (*ldap.DN, error) {
	if strings.TrimSpace(s) == "" {
		return nil, app.Errorf(app.EINVALID, "ldap config: %s is required", name)
	}
	d, err := ldap.ParseDN(s)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "ldap config: %s is not a valid DN: %s", name, err)
	}
	if len(d.RDNs) == 0 {
		return nil, app.Errorf(app.EINVALID, "ldap config: %s is required", name)
	}
	return d, nil
}

// ValidateCredentials checks the shape of {"bind_password": "..."}. Its
// messages never quote the value.
func (Driver) ValidateCredentials(raw []byte) error {
	_, err := parseCredentials(raw)
	return err
}

func parseCredentials(raw []byte) (*Credentials, error) {
	var c Credentials
	if err := app.DecodeStrictJSON(raw, &c); err != nil {
		return nil, app.Errorf(app.EINVALID, "ldap credentials: %s", err)
	}
	if c.BindPassword == "" {
		return nil, app.Errorf(app.EINVALID, "ldap credentials: bind_password is required")
	}
	if len(c.BindPassword) > 1024 {
		return nil, app.Errorf(app.EINVALID, "ldap credentials: bind_password is longer than 1024 bytes")
	}
	return &c, nil
}

// Connect dials, secures (ldaps or StartTLS), and binds. See conn.go.
func (Driver) Connect(ctx context.Context, config json.RawMessage, credentials []byte) (app.Conn, error) {
	cfg, err := parseConfig(config)
	if err != nil {
		return nil, err
	}
	creds, err := parseCredentials(credentials)
	if err != nil {
		return nil, err
	}
	return connect(ctx, cfg, creds.BindPassword)
}
