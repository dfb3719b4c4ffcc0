// Package siem forwards every audit record to a SIEM as RFC 5424 syslog
// messages over TLS with RFC 5425 octet-counting framing. Delivery is
// at-least-once from a durable cursor (app.OutboxCursor): a syslog outage or
// a server restart loses nothing, and each message names its record
// (MSGID audit-<id>) so a receiver can drop duplicates.
package siem

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/tlspolicy"
)

// Target is a parsed NEXPLANE_SYSLOG_URL.
type Target struct {
	Addr string      // host:port
	TLS  *tls.Config // nil for tcp:// (loopback only)
}

// String names the target without secrets (there are none in the URL).
func (t *Target) String() string {
	if t.TLS == nil {
		return "tcp://" + t.Addr
	}
	return "tcp+tls://" + t.Addr
}

// ParseTarget reads tcp+tls://host:port (the CA in caFile, or the system
// roots when caFile is empty) or tcp://host:port for a loopback host only:
// audit records carry who did what, so they never cross a network in clear.
func ParseTarget(raw, caFile string) (*Target, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("must look like tcp+tls://host:6514")
	}
	host, port := u.Hostname(), u.Port()
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, errors.New("needs a port, such as tcp+tls://host:6514")
	}
	t := &Target{Addr: net.JoinHostPort(host, port)}
	switch u.Scheme {
	case "tcp+tls":
		t.TLS = tlspolicy.Apply(&tls.Config{ServerName: host})
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("CA file: %w", errors.Unwrap(err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
			}
			t.TLS.RootCAs = pool
		}
	case "tcp":
		if !app.IsLoopbackHost(host) {
			return nil, errors.New("tcp:// is for loopback hosts only; use tcp+tls://")
		}
		if caFile != "" {
			return nil, errors.New("a CA file needs tcp+tls://")
		}
	default:
		return nil, fmt.Errorf("scheme %q: use tcp+tls:// (or tcp:// on loopback)", u.Scheme)
	}
	return t, nil
}
