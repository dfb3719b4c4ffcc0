// Package aws is the connector for AWS accounts: IAM users, their access
// keys, attached and inline policies and groups, read for the asset
// inventory and changed by typed operations.
//
// The aws.Config is built by hand rather than with config.LoadDefaultConfig:
// the default chain reads the server's environment and shared files
// (AWS_PROFILE, AWS_ENDPOINT_URL, ~/.aws/config), and a connector must talk
// to exactly the account and endpoint its reviewed config names.
package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Type is the connector type name.
const Type = "aws"

// Config defaults and bounds.
const (
	DefaultRotationDays = 90
	DefaultUnusedDays   = 90
	maxPolicyDays       = 3650
)

// Driver implements app.ConnectorDriver, app.HygieneRules and app.Revoker
// for AWS. The zero value is what Register installs.
type Driver struct {
	// maxBackoff caps the retryer's backoff; zero means defaultMaxBackoff.
	// Tests shorten it so throttling tests take milliseconds.
	maxBackoff time.Duration
	// verifyInterval is the pause between checks of a rotated key, and
	// verifyTimeout how long they go on; zero means the defaults.
	verifyInterval, verifyTimeout time.Duration
}

var (
	_ app.ConnectorDriver = Driver{}
	_ app.HygieneRules    = Driver{}
	_ app.Revoker         = Driver{}
)

// Type returns "aws".
func (Driver) Type() string { return Type }

// Config is the non-secret connector configuration.
type Config struct {
	Region string `json:"region"`
	// EndpointURL replaces the public IAM and STS endpoints (VPC endpoints,
	// air-gapped partitions, emulators).
	EndpointURL string `json:"endpoint_url,omitempty"`
	// AssumeRoleARN, when set, is assumed with the credentials for every
	// call except the rotation of those credentials themselves.
	AssumeRoleARN string `json:"assume_role_arn,omitempty"`
	RotationDays  int    `json:"rotation_days"`
	UnusedDays    int    `json:"unused_days"`
	SyncInterval  string `json:"sync_interval"`
}

// Credentials is the secret connector configuration: an IAM user's key.
type Credentials struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// String, Format and LogValue keep the key out of logs and errors even when
// a Credentials value is printed by mistake (the key id too: it names the
// account's most sensitive credential and is not needed in logs).
func (Credentials) String() string { return "[redacted]" }

// Format implements fmt.Formatter so %v, %+v, %#v and %s all redact.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer.
func (Credentials) LogValue() slog.Value { return slog.StringValue("[redacted]") }

var (
	regionRE    = regexp.MustCompile(`^[a-z]{2,}(-[a-z]+)+-\d{1,2}$`)
	roleARNRE   = regexp.MustCompile(`^arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	secretKeyRE = regexp.MustCompile(`^[A-Za-z0-9/+=]{16,128}$`)
)

// ValidateConfig checks the config and returns its normal form: defaults
// filled in, the endpoint without a trailing slash, the interval in Go's
// duration form.
func (Driver) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("aws: encode config: %w", err)
	}
	return out, nil
}

// parseConfig decodes strictly, validates and normalises. Connect and
// Findings call it too, so a config edited behind the application's back
// is still checked.
func parseConfig(raw json.RawMessage) (*Config, error) {
	var cfg Config
	if err := app.DecodeStrictJSON(raw, &cfg); err != nil {
		return nil, app.Errorf(app.EINVALID, "aws config: %s", err)
	}
	switch {
	case cfg.Region == "":
		return nil, app.Errorf(app.EINVALID, "aws config: region is required (e.g. us-east-1)")
	case !regionRE.MatchString(cfg.Region):
		return nil, app.Errorf(app.EINVALID, "aws config: region %q is not an AWS region name like us-east-1 or us-gov-west-1", cfg.Region)
	}
	if cfg.EndpointURL != "" {
		u, err := normaliseEndpoint(cfg.EndpointURL)
		if err != nil {
			return nil, app.Errorf(app.EINVALID, "aws config: endpoint_url: %s", err)
		}
		cfg.EndpointURL = u
	}
	if cfg.AssumeRoleARN != "" && !roleARNRE.MatchString(cfg.AssumeRoleARN) {
		return nil, app.Errorf(app.EINVALID, "aws config: assume_role_arn %q is not a role ARN like arn:aws:iam::123456789012:role/nexplane", cfg.AssumeRoleARN)
	}
	for _, d := range []struct {
		name string
		v    *int
		def  int
	}{{"rotation_days", &cfg.RotationDays, DefaultRotationDays}, {"unused_days", &cfg.UnusedDays, DefaultUnusedDays}} {
		switch {
		case *d.v == 0:
			*d.v = d.def
		case *d.v < 0 || *d.v > maxPolicyDays:
			return nil, app.Errorf(app.EINVALID, "aws config: %s must be between 1 and %d days", d.name, maxPolicyDays)
		}
	}
	every, err := app.ParseSyncInterval(cfg.SyncInterval, app.DefaultSyncInterval)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "aws config: %s", app.ErrMessage(err))
	}
	cfg.SyncInterval = app.FormatSyncInterval(every)
	return &cfg, nil
}

// normaliseEndpoint accepts https://host[:port][/path], http:// only to a
// loopback host (emulators), and nothing else.
func normaliseEndpoint(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("is not a valid URL (expected https://iam.example.internal)")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("scheme must be http or https, not %q", u.Scheme)
	case u.User != nil:
		return "", errors.New("must not contain a user or password; put the key in the credentials")
	case u.Host == "" || u.Hostname() == "":
		return "", errors.New("has no host")
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", errors.New("must be only scheme://host[:port][/path], without a query or fragment")
	case scheme == "http" && !app.IsLoopbackHost(u.Hostname()):
		return "", fmt.Errorf("http:// is allowed only for an endpoint on this machine (localhost, 127.0.0.0/8, ::1), not %s: "+
			"anywhere else the signed requests and the keys they create would cross the network unencrypted; use https://", u.Hostname())
	}
	return scheme + "://" + strings.ToLower(u.Host) + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// ValidateCredentials checks the shape of {"access_key_id","secret_access_key"}.
// Its messages never quote the values.
func (Driver) ValidateCredentials(raw []byte) error {
	_, err := parseCredentials(raw)
	return err
}

func parseCredentials(raw []byte) (*Credentials, error) {
	var c Credentials
	if err := app.DecodeStrictJSON(raw, &c); err != nil {
		return nil, app.Errorf(app.EINVALID, "aws credentials: %s", err)
	}
	switch {
	case c.AccessKeyID == "":
		return nil, app.Errorf(app.EINVALID, "aws credentials: access_key_id is required")
	case !accessKeyRE.MatchString(c.AccessKeyID):
		return nil, app.Errorf(app.EINVALID, "aws credentials: access_key_id is not an access key id (16 to 128 of A-Z 0-9, like AKIA…)")
	case c.SecretAccessKey == "":
		return nil, app.Errorf(app.EINVALID, "aws credentials: secret_access_key is required")
	case !secretKeyRE.MatchString(c.SecretAccessKey):
		return nil, app.Errorf(app.EINVALID, "aws credentials: secret_access_key is not a secret access key (16 to 128 of A-Z a-z 0-9 / + =; check for pasted spaces or quotes)")
	}
	return &c, nil
}

// Connect builds the SDK clients; it does not call AWS (Test does). See conn.go.
func (d Driver) Connect(ctx context.Context, config json.RawMessage, credentials []byte) (app.Conn, error) {
	cfg, err := parseConfig(config)
	if err != nil {
		return nil, err
	}
	creds, err := parseCredentials(credentials)
	if err != nil {
		return nil, err
	}
	return d.connect(cfg, creds), nil
}
