package ldapauth

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/sso"
	"github.com/nexplane/nexplane/app/tlspolicy"
)

// The outcomes a caller tells apart with errors.Is. Authenticate wraps them
// in app errors (EUNAUTHORIZED, EFORBIDDEN) whose messages are safe to show;
// any other failure is EUNAVAILABLE (the directory or the service account
// is the problem, not the person signing in) or EINVALID (bad Config).
var (
	// ErrInvalidCredentials is the same for an unknown user and a wrong
	// password, so the login form does not reveal which usernames exist.
	ErrInvalidCredentials = errors.New("ldapauth: invalid username or password")
	// ErrAccountDisabled is a disabled or locked account (ppolicy lock,
	// AD's ACCOUNTDISABLE or lockout, nsAccountLock, expired password).
	ErrAccountDisabled = errors.New("ldapauth: account disabled or locked")
)

// maxUsername bounds what is put into a filter; no directory has longer
// login names.
const maxUsername = 256

// AD's userAccountControl ACCOUNTDISABLE bit.
const uacAccountDisable = 0x2

// Authenticate signs username in with password: bind as the service
// account, search exactly one user with UserFilter, read the user's groups,
// then bind as the user. An empty password is refused before any network
// traffic: an LDAP bind with a DN and no password is an unauthenticated
// bind, which many directories accept.
//
// cfg is validated (and normalised in a copy) first. The whole exchange is
// bounded by cfg's timeout and by ctx.
func Authenticate(ctx context.Context, cfg Config, username, password string) (sso.Identity, error) {
	if username == "" || password == "" || len(username) > maxUsername || !utf8.ValidString(username) {
		return sso.Identity{}, invalidCredentials(nil)
	}
	if err := cfg.Validate(); err != nil {
		return sso.Identity{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout())
	defer cancel()

	l, err := dial(ctx, &cfg)
	if err != nil {
		return sso.Identity{}, err
	}
	defer l.Close()

	if err := l.Bind(cfg.BindDN, cfg.BindPassword); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return sso.Identity{}, app.Wrap(app.EUNAVAILABLE, err,
				"the directory refused the service account %s (wrong bind password, no such bind_dn, or the account is locked)", cfg.BindDN)
		}
		return sso.Identity{}, unavailable(ctx, &cfg, "binding as the service account", err)
	}

	entry, err := findUser(ctx, l, &cfg, username)
	if err != nil {
		return sso.Identity{}, err
	}
	groups, groupDNs, err := readGroups(ctx, l, &cfg, entry)
	if err != nil {
		return sso.Identity{}, err
	}
	if err := bindUser(ctx, l, &cfg, entry, password); err != nil {
		return sso.Identity{}, err
	}
	if why := disabledFlag(entry); why != "" {
		return sso.Identity{}, app.Wrap(app.EFORBIDDEN, ErrAccountDisabled, "the account is disabled in the directory (%s)", why)
	}

	subject := attrString(entry, cfg.SubjectAttr)
	if subject == "" {
		return sso.Identity{}, app.Errorf(app.EUNAVAILABLE,
			"the user entry has no %s attribute to link the account by; set subject_attr (entryUUID on OpenLDAP, objectGUID on AD)", cfg.SubjectAttr)
	}
	id := sso.Identity{
		Subject: subject,
		Email:   attrString(entry, cfg.EmailAttr),
		Name:    attrString(entry, cfg.NameAttr),
		Groups:  groups,
	}
	id.Claims = map[string]any{
		"dn":            entry.DN,
		cfg.SubjectAttr: id.Subject,
		cfg.EmailAttr:   id.Email,
		cfg.NameAttr:    id.Name,
		"groups":        groups,
		"group_dns":     groupDNs,
	}
	return id, nil
}

// dial connects and secures the connection (ldaps or StartTLS). ctx's
// deadline is put on the socket, so every later step (TLS, binds,
// searches) ends by it too; cancelling ctx aborts the step under way.
func dial(ctx context.Context, cfg *Config) (*ldap.Conn, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ldapauth: parse validated url: %w", err)
	}
	tc, err := tlspolicy.Client(u.Hostname(), cfg.CAPEM)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "ldap identity provider: ca_pem %s", err)
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, unavailable(ctx, cfg, "connecting", err)
	}
	deadline, _ := ctx.Deadline()
	_ = raw.SetDeadline(deadline)
	// A past deadline unblocks go-ldap's reader when ctx is cancelled; the
	// returned stop is not needed because the connection lives no longer
	// than ctx.
	context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })

	nc := raw
	if u.Scheme == "ldaps" {
		tlsConn := tls.Client(raw, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, unavailable(ctx, cfg, "the TLS handshake", err)
		}
		nc = tlsConn
	}
	l := ldap.NewConn(nc, u.Scheme == "ldaps")
	l.Start()
	l.SetTimeout(time.Until(deadline))
	if cfg.StartTLS {
		if err := l.StartTLS(tc); err != nil {
			l.Close()
			return nil, unavailable(ctx, cfg, "StartTLS", err)
		}
	}
	return l, nil
}

func findUser(ctx context.Context, l *ldap.Conn, cfg *Config, username string) (*ldap.Entry, error) {
	attrs := []string{cfg.SubjectAttr, cfg.EmailAttr, cfg.NameAttr,
		"userAccountControl", "nsAccountLock", "pwdAccountLockedTime"}
	if cfg.GroupFilter == "" {
		attrs = append(attrs, "memberOf")
	}
	// Size limit 2: one is the answer, two is enough to know the filter
	// is ambiguous.
	res, err := l.Search(ldap.NewSearchRequest(cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
		fillFilter(cfg.UserFilter, username), attrs, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) || (err == nil && len(res.Entries) > 1) {
		// Refused like a wrong password (the form reveals nothing); the
		// message tells the admin's dry run what is wrong.
		return nil, app.Wrap(app.EUNAUTHORIZED, ErrInvalidCredentials,
			"invalid username or password (user_filter matched more than one entry under %s; make it specific)", cfg.BaseDN)
	}
	if err != nil {
		return nil, unavailable(ctx, cfg, "searching the user", err)
	}
	if len(res.Entries) == 0 {
		return nil, invalidCredentials(nil)
	}
	return res.Entries[0], nil
}

// bindUser proves the password. A failed bind says why in different ways:
// OpenLDAP's ppolicy in its response control (only with
// ppolicy_use_lockout; otherwise pwdAccountLockedTime on the entry tells),
// AD in the diagnostic message ("data 775").
func bindUser(ctx context.Context, l *ldap.Conn, cfg *Config, entry *ldap.Entry, password string) error {
	res, err := l.SimpleBind(&ldap.SimpleBindRequest{Username: entry.DN, Password: password,
		Controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}})
	if err == nil {
		return nil
	}
	if !serverAnswered(err) {
		return unavailable(ctx, cfg, "binding as the user", err)
	}
	if res != nil {
		if c, ok := ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy); ok {
			switch c.Error {
			case ldap.BeheraAccountLocked:
				return app.Wrap(app.EFORBIDDEN, errors.Join(ErrAccountDisabled, err), "the account is locked in the directory")
			case ldap.BeheraPasswordExpired:
				return app.Wrap(app.EFORBIDDEN, errors.Join(ErrAccountDisabled, err), "the password has expired; change it in the directory first")
			}
		}
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) && entry.GetAttributeValue("pwdAccountLockedTime") != "" {
		return app.Wrap(app.EFORBIDDEN, errors.Join(ErrAccountDisabled, err), "the account is locked in the directory")
	}
	if why := adBindProblem(err); why != "" {
		return app.Wrap(app.EFORBIDDEN, errors.Join(ErrAccountDisabled, err), "%s", why)
	}
	return invalidCredentials(err)
}

// adBindProblem reads the sub-code AD puts in a failed bind's diagnostic
// ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext
// error, data 775, v4563"). AD gives these only for a correct password,
// except 775 (locked), which it gives for any.
func adBindProblem(err error) string {
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultInvalidCredentials || le.Err == nil {
		return ""
	}
	msg := le.Err.Error()
	for code, why := range map[string]string{
		"data 533": "the account is disabled in Active Directory",
		"data 775": "the account is locked out in Active Directory",
		"data 701": "the account has expired in Active Directory",
		"data 532": "the password has expired; change it in Active Directory first",
		"data 773": "the password must be changed at next logon; change it in Active Directory first",
	} {
		if strings.Contains(msg, code) {
			return why
		}
	}
	return ""
}

// disabledFlag names an account-disabling attribute on an entry whose bind
// succeeded anyway (a directory that does not enforce its own flag, or a
// proxy in front of it).
func disabledFlag(entry *ldap.Entry) string {
	if v := entry.GetAttributeValue("userAccountControl"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n&uacAccountDisable != 0 {
			return "userAccountControl has ACCOUNTDISABLE"
		}
	}
	if strings.EqualFold(entry.GetAttributeValue("nsAccountLock"), "true") {
		return "nsAccountLock is TRUE"
	}
	return ""
}

// readGroups returns the user's group names (each group's cn, or the first
// RDN value of a memberOf DN) and their DNs, sorted. Names are what mapping
// rules match; keep group_base_dn set so a same-named group elsewhere in
// the directory does not count.
func readGroups(ctx context.Context, l *ldap.Conn, cfg *Config, entry *ldap.Entry) (names, dns []string, err error) {
	var base *ldap.DN
	if cfg.GroupBaseDN != "" {
		if base, err = ldap.ParseDN(cfg.GroupBaseDN); err != nil {
			return nil, nil, fmt.Errorf("ldapauth: parse validated group_base_dn: %w", err)
		}
	}
	add := func(dn, name string) {
		if name == "" {
			name = dn
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		dns = append(dns, dn)
	}
	if cfg.GroupFilter == "" {
		for _, v := range entry.GetAttributeValues("memberOf") {
			dn, err := ldap.ParseDN(v)
			if err != nil || len(dn.RDNs) == 0 || (base != nil && !base.AncestorOfFold(dn)) {
				continue
			}
			add(v, dn.RDNs[0].Attributes[0].Value)
		}
	} else {
		res, err := l.Search(ldap.NewSearchRequest(cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			fillFilter(cfg.GroupFilter, entry.DN), []string{"cn"}, nil))
		if err != nil {
			return nil, nil, unavailable(ctx, cfg, "searching the user's groups", err)
		}
		for _, g := range res.Entries {
			add(g.DN, g.GetAttributeValue("cn"))
		}
	}
	slices.Sort(names)
	slices.Sort(dns)
	return names, dns, nil
}

// attrString is an attribute's first value as text. AD's objectGUID is 16
// bytes, shown in AD's own form (the first three fields little-endian);
// other binary values are base64.
func attrString(entry *ldap.Entry, name string) string {
	raw := entry.GetRawAttributeValue(name)
	if strings.EqualFold(name, "objectGUID") && len(raw) == 16 {
		b := raw
		return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
	}
	if !utf8.Valid(raw) {
		return base64.StdEncoding.EncodeToString(raw)
	}
	return string(raw)
}

func invalidCredentials(cause error) error {
	return app.Wrap(app.EUNAUTHORIZED, errors.Join(ErrInvalidCredentials, cause), "invalid username or password")
}

// unavailable is a failure of the directory or of the way to it: the
// person signing in can do nothing about it.
func unavailable(ctx context.Context, cfg *Config, step string, err error) error {
	why := ""
	var ne net.Error
	var le *ldap.Error
	switch {
	case ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()):
		why = "no answer within the timeout"
	case errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork:
		why = strings.ToLower(ldap.LDAPResultCodeMap[le.ResultCode])
		if le.Err != nil && le.Err.Error() != "" {
			why += ": " + le.Err.Error()
		}
	default:
		why = err.Error()
	}
	return app.Wrap(app.EUNAVAILABLE, err, "directory %s: %s failed: %s", cfg.URL, step, why)
}

// serverAnswered tells an LDAP result from the directory (codes below 200)
// from a client-side failure (go-ldap's codes 200 and up, a timeout).
func serverAnswered(err error) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork
}
