package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/tlspolicy"
)

// Timeouts used when the caller's context allows longer (or has no
// deadline): a directory that does not answer within these is treated as
// unavailable rather than holding a change request's lease forever.
const (
	connectTimeout = 10 * time.Second // dial + TLS + bind
	requestTimeout = 30 * time.Second // one LDAP request
)

// conn is an open, bound session. Operations reach it by type assertion
// from app.Conn (see connOf).
type conn struct {
	cfg      *Config
	l        *ldap.Conn
	security string // how the session is protected, for Test and logs
	pageSize uint32 // inventory page size; 0 means defaultPageSize (tests lower it)

	mu       sync.Mutex // serialises requests so each gets its own timeout
	password secret     // current bind password; rotation needs it
}

var _ app.Conn = (*conn)(nil)

// secret is a string that never prints.
type secret string

func (secret) String() string               { return "[redacted]" }
func (s secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }
func (secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (s secret) reveal() string             { return string(s) }
func (c *conn) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "ldap conn %s as %s", c.cfg.URL, c.cfg.BindDN)
}
func (c *conn) LogValue() slog.Value { return slog.StringValue(c.cfg.URL) }

// connOf gets our session back from the app.Conn an operation is given; any
// other type is a wiring bug (an internal error, not a user's).
func connOf(ac app.Conn) (*conn, error) {
	c, ok := ac.(*conn)
	if !ok || c == nil {
		return nil, fmt.Errorf("ldap: operation given a %T connection, want one from the ldap driver", ac)
	}
	return c, nil
}

// tlsConfig builds the client TLS settings: tlspolicy's versions and AEAD
// suites, the server name from the URL, and the CA bundle when one is
// configured.
func tlsConfig(cfg *Config) (*tls.Config, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ldap: parse normalised url: %w", err)
	}
	tc, err := tlspolicy.Client(u.Hostname(), cfg.CAPEM)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "ldap config: ca_pem: %s", err)
	}
	tc.InsecureSkipVerify = cfg.TLSSkipVerify //nolint:gosec // opt-in, documented as discouraged
	return tc, nil
}

// connect dials, secures and binds within connectTimeout (or ctx's earlier
// deadline). Cancelling ctx aborts whichever step is running.
func connect(ctx context.Context, cfg *Config, password string) (*conn, error) {
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ldap: parse normalised url: %w", err)
	}
	ldaps := u.Scheme == "ldaps"

	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(cctx, "tcp", u.Host)
	if err != nil {
		return nil, app.Wrap(app.EUNAVAILABLE, err, "cannot reach %s: %s", cfg.URL, netProblem(ctx, err))
	}
	// The deadline bounds the TLS handshake and bind too; go-ldap's reader
	// goroutine reads from raw, so a past deadline also unblocks it when
	// ctx is cancelled.
	deadline, _ := cctx.Deadline()
	_ = raw.SetDeadline(deadline)
	stop := context.AfterFunc(cctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	// step names the phase for timeouts: "timed out during StartTLS".
	step := "the TLS handshake"
	fail := func(e error) (*conn, error) {
		stop()
		_ = raw.Close()
		// The raw deadline may fire a hair before cctx's own timer.
		if ctx.Err() != nil || cctx.Err() != nil || isTimeout(e) || !time.Now().Before(deadline) {
			// go-ldap formats some read errors with %v; keep the cause
			// classifiable as a deadline anyway.
			return nil, app.Wrap(app.EUNAVAILABLE, errors.Join(e, context.DeadlineExceeded),
				"connecting to %s: %s during %s", cfg.URL, netProblem(ctx, context.DeadlineExceeded), step)
		}
		return nil, e
	}

	nc := raw
	security := "StartTLS"
	if ldaps {
		security = "ldaps"
		tlsConn := tls.Client(raw, tc)
		if err := tlsConn.HandshakeContext(cctx); err != nil {
			return fail(app.Wrap(app.EUNAVAILABLE, err, "TLS handshake with %s failed: %s", cfg.URL, tlsProblem(err)))
		}
		nc = tlsConn
	}
	l := ldap.NewConn(nc, ldaps)
	l.Start()
	l.SetTimeout(time.Until(deadline))
	failClose := func(e error) (*conn, error) {
		l.Close()
		return fail(e)
	}

	switch {
	case ldaps:
	case cfg.InsecureNoTLS:
		security = "NO TLS (insecure_no_tls: the bind password crosses the network in clear text)"
	default:
		step = "StartTLS"
		if err := l.StartTLS(tc); err != nil {
			switch {
			case isTLSHandshakeErr(err):
				return failClose(app.Wrap(app.EUNAVAILABLE, err, "TLS handshake with %s failed: %s", cfg.URL, tlsProblem(err)))
			case !serverAnswered(err):
				return failClose(app.Wrap(app.EUNAVAILABLE, err, "connection to %s failed during StartTLS: %s", cfg.URL, resultProblem(err)))
			}
			return failClose(app.Wrap(app.EUNAVAILABLE, err,
				"%s refused StartTLS (%s); enable TLS on the server or use ldaps:// (insecure_no_tls exists for labs only)",
				cfg.URL, resultProblem(err)))
		}
	}
	if st, ok := l.TLSConnectionState(); ok {
		security += " " + tls.VersionName(st.Version)
	}

	step = "the bind"
	if err := l.Bind(cfg.BindDN, password); err != nil {
		if !serverAnswered(err) {
			return failClose(app.Wrap(app.EUNAVAILABLE, err, "connection to %s failed during the bind: %s", cfg.URL, resultProblem(err)))
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return failClose(app.Wrap(app.EUNAVAILABLE, err,
				"bind as %s failed: invalid credentials (wrong bind_password, no such bind_dn, or the account is locked)", cfg.BindDN))
		}
		return failClose(app.Wrap(app.EUNAVAILABLE, err, "bind as %s failed: %s", cfg.BindDN, resultProblem(err)))
	}
	if !stop() {
		// ctx ended while we finished: the deadline trap may have fired.
		return failClose(errors.New("cancelled"))
	}
	_ = raw.SetDeadline(time.Time{})
	return &conn{cfg: cfg, l: l, security: security, password: secret(password)}, nil
}

func (c *conn) currentPassword() secret {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.password
}

func (c *conn) setCurrentPassword(p secret) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.password = p
}

// Test binds were already proven by Connect; it reads the bases to prove
// the configured DNs exist and are visible, and counts users and groups
// (capped, so it stays cheap on large directories).
func (c *conn) Test(ctx context.Context) (string, error) {
	for _, b := range []struct{ name, dn string }{{"base_dn", c.cfg.BaseDN}, {"user_base", c.cfg.UserBase}, {"group_base", c.cfg.GroupBase}} {
		err := c.do(ctx, "reading "+b.name+" "+b.dn, func(l *ldap.Conn) error {
			_, err := l.Search(ldap.NewSearchRequest(b.dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
				"(objectClass=*)", []string{"1.1"}, nil))
			return err
		})
		if err != nil {
			return "", err
		}
	}
	users, err := c.count(ctx, c.cfg.UserBase, "(objectClass=inetOrgPerson)")
	if err != nil {
		return "", err
	}
	groups, err := c.count(ctx, c.cfg.GroupBase, "(objectClass=groupOfNames)")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("bound as %s to %s over %s; base %s is readable; %s users under %s; %s groups under %s",
		c.cfg.BindDN, c.cfg.URL, c.security, c.cfg.BaseDN, users, c.cfg.UserBase, groups, c.cfg.GroupBase), nil
}

const countCap = 1000

func (c *conn) count(ctx context.Context, base, filter string) (string, error) {
	n := 0
	capped := false
	err := c.do(ctx, "counting entries under "+base, func(l *ldap.Conn) error {
		res, err := l.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, countCap, 0, false,
			filter, []string{"1.1"}, nil))
		if res != nil {
			n = len(res.Entries)
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			capped = true
			return nil
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if capped {
		return fmt.Sprintf("at least %d", n), nil
	}
	return fmt.Sprint(n), nil
}

// Close ends the session; closing twice is harmless.
func (c *conn) Close() error {
	if c.l.IsClosing() {
		return nil
	}
	return c.l.Close()
}

// do runs one request with a timeout from ctx (capped at requestTimeout)
// and aborts it by closing the connection if ctx is cancelled: go-ldap has
// no context support, and a cancelled change must not keep writing. The
// error is mapped to an app code with a message naming what failed.
func (c *conn) do(ctx context.Context, what string, fn func(*ldap.Conn) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return app.Wrap(app.EUNAVAILABLE, err, "%s: %s", what, netProblem(ctx, err))
	}
	timeout := requestTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	c.l.SetTimeout(timeout)
	stop := context.AfterFunc(ctx, func() { c.l.Close() })
	err := fn(c.l)
	stop()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return app.Wrap(app.EUNAVAILABLE, err, "%s: %s", what, netProblem(ctx, ctx.Err()))
	}
	return c.mapErr(what, err)
}

// mapErr turns a go-ldap error into an app error whose message says what
// we were doing and what the directory answered (result name and its
// diagnostic text, which never contains request values like passwords).
func (c *conn) mapErr(what string, err error) error {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return fmt.Errorf("ldap: %s: %w", what, err)
	}
	switch le.ResultCode {
	case ldap.ErrorNetwork, ldap.LDAPResultTimeout, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable:
		return app.Wrap(app.EUNAVAILABLE, err, "%s: the connection to %s failed: %s", what, c.cfg.URL, resultProblem(err))
	case ldap.LDAPResultNoSuchObject:
		return app.Wrap(app.ENOTFOUND, err, "%s: no such entry (or not visible to %s)", what, c.cfg.BindDN)
	case ldap.LDAPResultEntryAlreadyExists:
		return app.Wrap(app.ECONFLICT, err, "%s: the entry already exists", what)
	case ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultNoSuchAttribute:
		return app.Wrap(app.ECONFLICT, err, "%s: %s", what, resultProblem(err))
	case ldap.LDAPResultInsufficientAccessRights:
		return app.Wrap(app.EFORBIDDEN, err, "%s: the directory denied it to %s (insufficient access rights; check the ACLs)", what, c.cfg.BindDN)
	case ldap.LDAPResultObjectClassViolation, ldap.LDAPResultConstraintViolation, ldap.LDAPResultInvalidAttributeSyntax,
		ldap.LDAPResultUndefinedAttributeType, ldap.LDAPResultNamingViolation, ldap.LDAPResultNotAllowedOnRDN,
		ldap.LDAPResultNotAllowedOnNonLeaf, ldap.LDAPResultInvalidDNSyntax:
		return app.Wrap(app.EINVALID, err, "%s: the directory refused it: %s", what, resultProblem(err))
	}
	return app.Wrap(app.EUNAVAILABLE, err, "%s: %s", what, resultProblem(err))
}

// resultProblem is "<result name>: <diagnostic>" without go-ldap's
// "LDAP Result Code N" prefix.
func resultProblem(err error) string {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return err.Error()
	}
	name := strings.ToLower(ldap.LDAPResultCodeMap[le.ResultCode])
	if name == "" {
		name = fmt.Sprintf("result code %d", le.ResultCode)
	}
	diag := ""
	if le.Err != nil {
		diag = strings.TrimPrefix(le.Err.Error(), "ldap: ")
	}
	if diag == "" {
		return name
	}
	return name + ": " + diag
}

// netProblem describes a dial or I/O failure in a few words.
func netProblem(ctx context.Context, err error) string {
	var dnsErr *net.DNSError
	var sysErr *os.SyscallError
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timed out"
	case errors.As(err, &dnsErr):
		return "cannot resolve host " + dnsErr.Name + ": " + dnsErr.Err
	}
	if errors.As(err, &sysErr) {
		return sysErr.Err.Error() // "connection refused", without "dial tcp …: connect:"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serverAnswered tells an LDAP result from the server (codes below 200)
// from a client-side failure (go-ldap's codes 200 and up, or a bare error
// such as a read timeout).
func serverAnswered(err error) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork
}

// isTLSHandshakeErr spots go-ldap's StartTLS handshake failure, which it
// formats with %v (so the x509 error is not in the chain).
func isTLSHandshakeErr(err error) bool {
	return ldap.IsErrorWithCode(err, ldap.ErrorNetwork) && strings.Contains(err.Error(), "TLS handshake failed")
}

// tlsProblem explains a TLS failure and, for the common one, what to do.
func tlsProblem(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var msg string
	switch {
	case errors.As(err, &ua):
		msg = ua.Error()
	case errors.As(err, &he):
		msg = he.Error()
	case errors.As(err, &ci):
		msg = ci.Error()
	default:
		msg = err.Error()
		var le *ldap.Error
		if errors.As(err, &le) && le.Err != nil {
			msg = le.Err.Error()
		}
		msg = strings.TrimPrefix(msg, "TLS handshake failed (")
		msg = strings.TrimSuffix(msg, ")")
	}
	msg = strings.TrimPrefix(msg, "tls: failed to verify certificate: ")
	msg = strings.TrimPrefix(msg, "x509: ")
	if strings.Contains(msg, "unknown authority") {
		msg += " (set ca_pem to the CA that issued the server certificate)"
	}
	return msg
}

// partial reports a multi-step change that stopped half-way: what was
// already done, then what failed, keeping the failure's code and cause.
func partial(err error, format string, args ...any) error {
	return app.Wrap(app.ErrCode(err), err, "%s: %s", fmt.Sprintf(format, args...), app.ErrMessage(err))
}
