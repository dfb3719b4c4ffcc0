package app

import (
	"context"
	"encoding/json"
	"time"
)

// Connector is a configured target system (an LDAP directory, an AWS
// account, the agents). Config is non-secret; credentials are sealed and
// never leave the server in any response, log or audit payload.
type Connector struct {
	ID                   int64
	Name                 string // unique
	Type                 string // a registered ConnectorDriver type: "ldap", …
	Config               json.RawMessage
	SealedCredentials    []byte    // Sealer output over the credentials JSON; nil when none
	CredentialsUpdatedAt time.Time // zero when none
	RequiredApprovals    int       // approvals needed before execution; at least 1
	// Version bumps on every change of config, credentials or approval
	// policy: an approval binds to it, so such a change voids approvals.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CredentialsAD is the additional data binding a connector's sealed
// credentials to its row and purpose.
func (c *Connector) CredentialsAD() string { return credentialsAD(c.ID) }

// ConnectorDriver is one connector type. Drivers live in app/connector/*
// and register in a Registry at start-up.
type ConnectorDriver interface {
	Type() string
	// ConfigSpec describes the config and credentials: app checks submitted
	// values against it and the console builds its form from it.
	ConfigSpec() ConfigSpec
	// ValidateConfig checks the non-secret config and returns its normal form.
	ValidateConfig(config json.RawMessage) (json.RawMessage, error)
	// ValidateCredentials checks the shape of the secret JSON. Its errors
	// must never quote the values.
	ValidateCredentials(credentials []byte) error
	// Connect opens a session to the target system; callers Close it.
	Connect(ctx context.Context, config json.RawMessage, credentials []byte) (Conn, error)
}

// Conn is an open session to a target system.
type Conn interface {
	// Test proves reachability and credentials and says who we are there.
	Test(ctx context.Context) (string, error)
	Close() error
}

// Sealer seals secrets at rest (app/vault implements it).
type Sealer interface {
	Seal(plaintext []byte, ad string) ([]byte, error)
	Open(sealed []byte, ad string) ([]byte, error)
}
