package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app/siem"
)

// config is the server's configuration: environment first, flags mirror it.
type config struct {
	SecretKey         []byte
	SecretKeyPrevious []byte
	DataDir           string
	DatabaseURL       string
	Listen            string
	TLSCert           string
	TLSKey            string
	InsecureHTTP      bool
	// OpTimeout bounds one change operation; LeaseTTL is how long a dead
	// worker's request stays claimed before another worker takes it back;
	// DrainTimeout is how long operations in flight may finish on SIGTERM.
	OpTimeout    time.Duration
	LeaseTTL     time.Duration
	DrainTimeout time.Duration
	// ConnectorConcurrency is how many requests run against one connector
	// at once, so a hung target cannot take every worker.
	ConnectorConcurrency int
	// AgentListen is the agent listener's address; "off" disables it.
	AgentListen string
	// AgentPublicURL is how hosts reach the agent listener, printed in the
	// enroll command; empty means https://<this host>:<agent port>.
	AgentPublicURL string
	// AgentHostnames are extra names for the agent listener's certificate.
	AgentHostnames []string
	// AgentCertTTL is the lifetime of agent certificates.
	AgentCertTTL time.Duration
	// SyslogURL forwards every audit record to a SIEM (empty: off);
	// SyslogCAFile pins its CA. Syslog is the parsed target.
	SyslogURL    string
	SyslogCAFile string
	Syslog       *siem.Target
	// AuditWitness is a file every stored checkpoint is appended to,
	// outside the database (empty: off); AcceptAuditRollback lets serve
	// start on a database behind it, audited.
	AuditWitness        string
	AcceptAuditRollback bool
	// PublicURL is the console's public URL (https://host[:port]); passkeys
	// take their RP ID and origin from it. Empty: from each request's Host.
	PublicURL string
}

// maxConnectorConcurrency bounds NEXPLANE_CONNECTOR_CONCURRENCY; the
// engine's worker count caps it further.
const maxConnectorConcurrency = 64

// minSecretKeyLen is the shortest SECRET_KEY accepted: 256 bits of input.
const minSecretKeyLen = 32

// minSecretKeyDistinct is the fewest distinct bytes a SECRET_KEY may hold:
// length alone lets "aaaa…" or "abababab…" through, keys anyone can guess.
// Any random key (base64 of random bytes, hex) has far more.
const minSecretKeyDistinct = 16

func distinctBytes(s string) int {
	var seen [256]bool
	n := 0
	for i := 0; i < len(s); i++ {
		if !seen[s[i]] {
			seen[s[i]] = true
			n++
		}
	}
	return n
}

// errConfig marks configuration errors: one line, exit status 2.
type errConfig struct{ msg string }

func (e *errConfig) Error() string { return e.msg }

func configErr(format string, args ...any) error { return &errConfig{fmt.Sprintf(format, args...)} }

func isConfigErr(err error) bool {
	var ce *errConfig
	return errors.As(err, &ce)
}

// envOrFile reads NAME, or the contents of the file named by NAME_FILE. The
// file holds a secret, so one that group or others may read is refused: the
// key would already be in more hands than the server's.
func envOrFile(getenv func(string) string, name string) (string, error) {
	v := getenv(name)
	f := getenv(name + "_FILE")
	if v != "" && f != "" {
		return "", configErr("set %s or %s_FILE, not both", name, name)
	}
	if f != "" {
		st, err := os.Stat(f)
		if err != nil {
			return "", configErr("%s_FILE: cannot read %s: %v", name, f, errors.Unwrap(err))
		}
		if m := st.Mode().Perm(); m&0o044 != 0 {
			return "", configErr("%s_FILE %s is readable by group or others (mode %04o); make it readable by the server's user only (chmod 0600)", name, f, m)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", configErr("%s_FILE: cannot read %s: %v", name, f, errors.Unwrap(err))
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return v, nil
}

// loadConfig reads the environment and then any flags given in args.
// needSecret is false for commands that never touch sealed data.
func loadConfig(getenv func(string) string, fs *flag.FlagSet, args []string, needSecret bool) (*config, error) {
	c := &config{
		DataDir:     getenv("NEXPLANE_DATA_DIR"),
		DatabaseURL: getenv("DATABASE_URL"),
		Listen:      getenv("NEXPLANE_LISTEN"),
		TLSCert:     getenv("NEXPLANE_TLS_CERT"),
		TLSKey:      getenv("NEXPLANE_TLS_KEY"),
		SyslogURL:   getenv("NEXPLANE_SYSLOG_URL"),
	}
	c.SyslogCAFile = getenv("NEXPLANE_SYSLOG_CA_FILE")
	c.AuditWitness = getenv("NEXPLANE_AUDIT_WITNESS")
	c.PublicURL = getenv("NEXPLANE_PUBLIC_URL")
	if c.DataDir == "" {
		c.DataDir = "/var/lib/nexplane"
	}
	if c.Listen == "" {
		c.Listen = ":8443"
	}
	if err := loadAgentConfig(getenv, c); err != nil {
		return nil, err
	}
	switch v := getenv("NEXPLANE_INSECURE_HTTP"); v {
	case "", "0", "false":
	case "1", "true":
		c.InsecureHTTP = true
	default:
		return nil, configErr("NEXPLANE_INSECURE_HTTP must be 1 or 0, not %q", v)
	}
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory (NEXPLANE_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "postgres:// URL; empty means SQLite in the data dir (DATABASE_URL)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTPS listen address (NEXPLANE_LISTEN)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate file (NEXPLANE_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS key file (NEXPLANE_TLS_KEY)")
	fs.StringVar(&c.AgentListen, "agent-listen", c.AgentListen, `agent mutual-TLS listen address, or "off" (NEXPLANE_AGENT_LISTEN)`)
	fs.StringVar(&c.AgentPublicURL, "agent-public-url", c.AgentPublicURL, "agent listener URL hosts use, for the enroll command (NEXPLANE_AGENT_PUBLIC_URL)")
	fs.StringVar(&c.SyslogURL, "syslog-url", c.SyslogURL, "forward audit records to this SIEM, tcp+tls://host:6514 (NEXPLANE_SYSLOG_URL)")
	fs.StringVar(&c.SyslogCAFile, "syslog-ca-file", c.SyslogCAFile, "CA certificate (PEM) of the SIEM's syslog server (NEXPLANE_SYSLOG_CA_FILE)")
	fs.StringVar(&c.AuditWitness, "audit-witness", c.AuditWitness, "append every audit checkpoint to this file, best on another volume (NEXPLANE_AUDIT_WITNESS)")
	fs.BoolVar(&c.AcceptAuditRollback, "accept-audit-rollback", false, "start although the database is behind the audit witness (recorded in the audit log)")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "the console's public URL, https://host[:port]; passkeys are registered with its host (NEXPLANE_PUBLIC_URL)")
	fs.BoolVar(&c.InsecureHTTP, "insecure-http", c.InsecureHTTP, "serve plain HTTP behind a TLS-terminating proxy (NEXPLANE_INSECURE_HTTP)")
	for _, d := range []struct {
		env string
		dst *time.Duration
		def time.Duration
	}{{"NEXPLANE_OP_TIMEOUT", &c.OpTimeout, 2 * time.Minute}, {"NEXPLANE_LEASE_TTL", &c.LeaseTTL, 30 * time.Second},
		{"NEXPLANE_DRAIN_TIMEOUT", &c.DrainTimeout, 25 * time.Second}} {
		*d.dst = d.def
		if v := getenv(d.env); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur < time.Second || dur > 24*time.Hour {
				return nil, configErr("%s must be a duration between 1s and 24h, such as 90s, not %q", d.env, v)
			}
			*d.dst = dur
		}
	}
	fs.DurationVar(&c.OpTimeout, "op-timeout", c.OpTimeout, "time limit of one change operation (NEXPLANE_OP_TIMEOUT)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "execution lease; a dead worker's request is taken back after it (NEXPLANE_LEASE_TTL)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "on SIGTERM, how long operations in flight may finish (NEXPLANE_DRAIN_TIMEOUT)")
	c.ConnectorConcurrency = 2
	if v := getenv("NEXPLANE_CONNECTOR_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxConnectorConcurrency {
			return nil, configErr("NEXPLANE_CONNECTOR_CONCURRENCY must be a number from 1 to %d, not %q", maxConnectorConcurrency, v)
		}
		c.ConnectorConcurrency = n
	}
	fs.IntVar(&c.ConnectorConcurrency, "connector-concurrency", c.ConnectorConcurrency,
		"requests run at once against one connector (NEXPLANE_CONNECTOR_CONCURRENCY)")
	if err := fs.Parse(args); err != nil {
		return nil, configErr("%v", err)
	}
	if c.ConnectorConcurrency < 1 || c.ConnectorConcurrency > maxConnectorConcurrency {
		return nil, configErr("-connector-concurrency must be from 1 to %d, not %d", maxConnectorConcurrency, c.ConnectorConcurrency)
	}
	if err := checkAgentConfig(c); err != nil {
		return nil, err
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && c.InsecureHTTP)) || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, configErr("NEXPLANE_PUBLIC_URL must be https://host[:port], not %q", c.PublicURL)
		}
		if net.ParseIP(u.Hostname()) != nil {
			return nil, configErr("NEXPLANE_PUBLIC_URL must name the host by its DNS name (passkeys refuse IP addresses), not %q", c.PublicURL)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, configErr("set both NEXPLANE_TLS_CERT and NEXPLANE_TLS_KEY, or neither")
	}
	if c.SyslogURL != "" {
		t, err := siem.ParseTarget(c.SyslogURL, c.SyslogCAFile)
		if err != nil {
			return nil, configErr("NEXPLANE_SYSLOG_URL: %v", err)
		}
		c.Syslog = t
	} else if c.SyslogCAFile != "" {
		return nil, configErr("NEXPLANE_SYSLOG_CA_FILE needs NEXPLANE_SYSLOG_URL")
	}
	if c.AuditWitness != "" {
		if err := checkWitnessPath(c.AuditWitness); err != nil {
			return nil, err
		}
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return nil, configErr("DATABASE_URL must start with postgres:// (unset it to use SQLite)")
	}
	secret, err := envOrFile(getenv, "SECRET_KEY")
	if err != nil {
		return nil, err
	}
	prev, err := envOrFile(getenv, "SECRET_KEY_PREVIOUS")
	if err != nil {
		return nil, err
	}
	if needSecret {
		switch {
		case secret == "":
			return nil, configErr("SECRET_KEY is not set; set it to a random value of at least %d bytes (e.g. `openssl rand -base64 48`)", minSecretKeyLen)
		case len(secret) < minSecretKeyLen:
			return nil, configErr("SECRET_KEY is %d bytes; it must be at least %d bytes", len(secret), minSecretKeyLen)
		case distinctBytes(secret) < minSecretKeyDistinct:
			// SECRET_KEY_PREVIOUS is not held to this: it is how a weak key
			// is rolled over to a strong one.
			return nil, configErr("SECRET_KEY has only %d distinct bytes; it must have at least %d: use a random value (e.g. `openssl rand -base64 48`)", distinctBytes(secret), minSecretKeyDistinct)
		case prev != "" && len(prev) < minSecretKeyLen:
			return nil, configErr("SECRET_KEY_PREVIOUS is %d bytes; it must be at least %d bytes", len(prev), minSecretKeyLen)
		}
	}
	c.SecretKey = []byte(secret)
	if prev != "" {
		c.SecretKeyPrevious = []byte(prev)
	}
	return c, nil
}
