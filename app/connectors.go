package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DefaultRequiredApprovals applies when a connector's policy is not given.
const DefaultRequiredApprovals = 1

// maxRequiredApprovals keeps a typo from making a connector unusable.
const maxRequiredApprovals = 10

var connectorNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)

// ConnectorInput creates a connector. Credentials is the secret JSON; it is
// sealed before it is stored and never returned.
type ConnectorInput struct {
	Name              string
	Type              string
	Config            json.RawMessage
	Credentials       json.RawMessage
	RequiredApprovals *int
}

// ConnectorPatch changes a connector; nil fields stay.
type ConnectorPatch struct {
	Name              *string
	Config            json.RawMessage
	Credentials       json.RawMessage
	RequiredApprovals *int
}

func validateRequiredApprovals(n int) error {
	if n < 1 || n > maxRequiredApprovals {
		return Errorf(EINVALID, "required_approvals must be between 1 and %d", maxRequiredApprovals)
	}
	return nil
}

func validateConnectorName(name string) error {
	if !connectorNameRE.MatchString(name) {
		return Errorf(EINVALID, "name must be 1 to 64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// connectorAudit is what the audit log records of a connector: never the
// credentials, only whether they are set.
func connectorAudit(c *Connector) map[string]any {
	return map[string]any{"name": c.Name, "type": c.Type, "config": c.Config,
		"credentials_set": c.SealedCredentials != nil, "required_approvals": c.RequiredApprovals, "version": c.Version}
}

// validateConfig checks a submitted config against the type's spec, then
// lets the driver check its meaning and return its normal form.
func validateConfig(d ConnectorDriver, config json.RawMessage) (json.RawMessage, error) {
	if err := d.ConfigSpec().CheckConfig(d.Type()+" config", config); err != nil {
		return nil, err
	}
	return d.ValidateConfig(config)
}

// validateCredentials is validateConfig for credentials; neither check
// quotes a value.
func validateCredentials(d ConnectorDriver, creds json.RawMessage) error {
	if err := d.ConfigSpec().CheckCredentials(d.Type()+" credentials", creds); err != nil {
		return err
	}
	return d.ValidateCredentials(creds)
}

// sealCredentials validates and seals credentials for connector c.
func (s *Service) sealCredentials(d ConnectorDriver, c *Connector, creds json.RawMessage) error {
	if err := validateCredentials(d, creds); err != nil {
		return err
	}
	if s.sealer == nil {
		return fmt.Errorf("seal credentials: no sealer configured")
	}
	sealed, err := s.sealer.Seal(creds, c.CredentialsAD())
	if err != nil {
		return fmt.Errorf("seal credentials of connector %d: %w", c.ID, err)
	}
	c.SealedCredentials = sealed
	c.CredentialsUpdatedAt = s.now().UTC()
	return nil
}

func hasJSON(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

// CreateConnector adds a connector (Admin only).
func (s *Service) CreateConnector(ctx context.Context, actor Actor, in ConnectorInput) (*Connector, error) {
	if err := actor.require(ActManageConnector); err != nil {
		return nil, err
	}
	if err := validateConnectorName(in.Name); err != nil {
		return nil, err
	}
	d, err := s.registry.Driver(in.Type)
	if err != nil {
		return nil, err
	}
	cfg, err := validateConfig(d, in.Config)
	if err != nil {
		return nil, err
	}
	req := DefaultRequiredApprovals
	if in.RequiredApprovals != nil {
		req = *in.RequiredApprovals
	}
	if err := validateRequiredApprovals(req); err != nil {
		return nil, err
	}
	if hasJSON(in.Credentials) {
		// Validate before any write so bad credentials leave nothing behind.
		if err := validateCredentials(d, in.Credentials); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	c := &Connector{Name: in.Name, Type: in.Type, Config: cfg, RequiredApprovals: req, CreatedAt: now, UpdatedAt: now}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.CreateConnector(ctx, c); err != nil {
			return err
		}
		// The sealed value is bound to the row id, known only after insert.
		if hasJSON(in.Credentials) {
			if err := s.sealCredentials(d, c, in.Credentials); err != nil {
				return err
			}
			if err := tx.UpdateConnector(ctx, c); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, actor, "connector.created", "connector", strconv.FormatInt(c.ID, 10), connectorAudit(c))
	})
	if err != nil {
		return nil, fmt.Errorf("create connector %q: %w", in.Name, err)
	}
	return c, nil
}

// UpdateConnector changes a connector (Admin only).
func (s *Service) UpdateConnector(ctx context.Context, actor Actor, id int64, p ConnectorPatch) (*Connector, error) {
	if err := actor.require(ActManageConnector); err != nil {
		return nil, err
	}
	if p.Name == nil && p.Config == nil && p.Credentials == nil && p.RequiredApprovals == nil {
		return nil, Errorf(EINVALID, "nothing to change: give name, config, credentials and/or approval_policy")
	}
	var out *Connector
	err := s.store.WithTx(ctx, func(tx Tx) error {
		c, err := tx.ConnectorByID(ctx, id)
		if err != nil {
			return err
		}
		d, err := s.registry.Driver(c.Type)
		if err != nil {
			return err
		}
		changed := []string{}
		if p.Name != nil && *p.Name != c.Name {
			if err := validateConnectorName(*p.Name); err != nil {
				return err
			}
			c.Name = *p.Name
			changed = append(changed, "name")
		}
		if p.Config != nil {
			cfg, err := validateConfig(d, p.Config)
			if err != nil {
				return err
			}
			if c.SealedCredentials != nil && !hasJSON(p.Credentials) {
				moved, err := d.ConfigSpec().movedLocators(c.Config, cfg)
				if err != nil {
					return err
				}
				if len(moved) > 0 {
					return Errorf(ECREDENTIALS, "changing %s changes where the stored credentials are sent: enter the credentials again",
						strings.Join(moved, ", "))
				}
			}
			if !bytes.Equal(cfg, c.Config) { // an unchanged config voids no approval
				c.Config = cfg
				changed = append(changed, "config")
			}
		}
		if p.RequiredApprovals != nil {
			if err := validateRequiredApprovals(*p.RequiredApprovals); err != nil {
				return err
			}
			if *p.RequiredApprovals != c.RequiredApprovals {
				c.RequiredApprovals = *p.RequiredApprovals
				changed = append(changed, "approval_policy")
			}
		}
		if hasJSON(p.Credentials) {
			same, err := s.sameCredentials(c, p.Credentials)
			if err != nil {
				return err
			}
			if !same {
				if err := s.sealCredentials(d, c, p.Credentials); err != nil {
					return err
				}
				changed = append(changed, "credentials")
			}
		}
		if len(changed) == 0 {
			// The record names only what differs; nothing differs.
			out = c
			return nil
		}
		bound := boundFields(changed)
		if len(bound) > 0 {
			c.Version++
		}
		c.UpdatedAt = s.now().UTC()
		if err := tx.UpdateConnector(ctx, c); err != nil {
			return err
		}
		payload := connectorAudit(c)
		payload["changed"] = changed
		out = c
		if err := s.appendAudit(ctx, tx, actor, "connector.updated", "connector", strconv.FormatInt(c.ID, 10), payload); err != nil {
			return err
		}
		if len(bound) == 0 {
			return nil
		}
		return s.voidConnectorApprovals(ctx, tx, actor, c, bound)
	})
	if err != nil {
		return nil, fmt.Errorf("update connector %d: %w", id, err)
	}
	return out, nil
}

// sameCredentials says whether creds are the credentials c holds already
// (compared as JSON values, never logged or recorded).
func (s *Service) sameCredentials(c *Connector, creds json.RawMessage) (bool, error) {
	if c.SealedCredentials == nil || s.sealer == nil {
		return false, nil
	}
	cur, err := s.sealer.Open(c.SealedCredentials, c.CredentialsAD())
	if err != nil {
		// Unreadable stored credentials (a lost key) are replaced.
		return false, nil
	}
	return sameJSONValue(cur, creds), nil
}

// DeleteConnector removes an unused connector (Admin only).
func (s *Service) DeleteConnector(ctx context.Context, actor Actor, id int64) error {
	if err := actor.require(ActManageConnector); err != nil {
		return err
	}
	err := s.store.WithTx(ctx, func(tx Tx) error {
		c, err := tx.ConnectorByID(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteConnector(ctx, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "connector.deleted", "connector", strconv.FormatInt(id, 10),
			map[string]any{"name": c.Name, "type": c.Type})
	})
	if err != nil {
		return fmt.Errorf("delete connector %d: %w", id, err)
	}
	return nil
}

// GetConnector returns one connector (Admin only).
func (s *Service) GetConnector(ctx context.Context, actor Actor, id int64) (*Connector, error) {
	if err := actor.require(ActManageConnector); err != nil {
		return nil, err
	}
	return s.store.ConnectorByID(ctx, id)
}

// ListConnectors returns every connector (Admin only).
func (s *Service) ListConnectors(ctx context.Context, actor Actor) ([]Connector, error) {
	if err := actor.require(ActManageConnector); err != nil {
		return nil, err
	}
	return s.store.ListConnectors(ctx)
}

// ConnectorSummary is what anyone who may read change requests may know of
// a connector: no config, no credentials.
type ConnectorSummary struct {
	ID                int64
	Name              string
	Type              string
	RequiredApprovals int
}

// ConnectorSummaries lists connectors by name for every role that reads
// change requests (to show names and approval policies beside them).
func (s *Service) ConnectorSummaries(ctx context.Context, actor Actor) ([]ConnectorSummary, error) {
	if err := actor.require(ActReadChanges); err != nil {
		return nil, err
	}
	cs, err := s.store.ListConnectors(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ConnectorSummary, 0, len(cs))
	for _, c := range cs {
		out = append(out, ConnectorSummary{ID: c.ID, Name: c.Name, Type: c.Type, RequiredApprovals: c.RequiredApprovals})
	}
	return out, nil
}

// ConnectorChoice is what a change request author needs to pick a target.
type ConnectorChoice struct {
	ID         int64
	Name       string
	Type       string
	Operations []OperationSpec
}

// ConnectorChoices lists connectors with their operation types for anyone
// who may write change requests; no config or credentials.
func (s *Service) ConnectorChoices(ctx context.Context, actor Actor) ([]ConnectorChoice, error) {
	if err := actor.require(ActWriteChanges); err != nil {
		return nil, err
	}
	cs, err := s.store.ListConnectors(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ConnectorChoice, 0, len(cs))
	for _, c := range cs {
		out = append(out, ConnectorChoice{ID: c.ID, Name: c.Name, Type: c.Type, Operations: s.registry.Operations(c.Type)})
	}
	return out, nil
}

// openConnector unseals credentials and connects. The plaintext lives only
// in this call and the driver's session.
func (s *Service) openConnector(ctx context.Context, c *Connector) (Conn, error) {
	return OpenConnector(ctx, s.registry, s.sealer, c)
}

// OpenConnector connects to c's target with its unsealed credentials; the
// engine uses it too.
func OpenConnector(ctx context.Context, reg *Registry, sealer Sealer, c *Connector) (Conn, error) {
	d, err := reg.Driver(c.Type)
	if err != nil {
		return nil, err
	}
	var creds []byte
	if c.SealedCredentials == nil {
		if err := d.ValidateCredentials([]byte(`{}`)); err != nil {
			return nil, Errorf(EUNAVAILABLE, "connector %q has no credentials set", c.Name)
		}
	} else {
		if sealer == nil {
			return nil, fmt.Errorf("connector %d: no sealer configured", c.ID)
		}
		creds, err = sealer.Open(c.SealedCredentials, c.CredentialsAD())
		if err != nil {
			return nil, Errorf(EUNAVAILABLE, "connector %q: stored credentials cannot be read (was SECRET_KEY changed without SECRET_KEY_PREVIOUS?)", c.Name)
		}
		defer clear(creds)
	}
	conn, err := d.Connect(ctx, c.Config, creds)
	if err != nil {
		// Whatever the driver's code (a refused bind may say forbidden), to
		// the caller the target is unavailable, not their permission lacking.
		return nil, Errorf(EUNAVAILABLE, "connector %q: %s", c.Name, safeMessage(err))
	}
	return conn, nil
}

// safeMessage is an error's text for users: drivers promise their messages
// never hold a secret; app errors give their safe message.
func safeMessage(err error) string {
	if ErrCode(err) != EINTERNAL {
		return ErrMessage(err)
	}
	return err.Error()
}

// TestConnector checks reachability and credentials (Admin only). It returns
// what the target says about us, or an error saying why not.
func (s *Service) TestConnector(ctx context.Context, actor Actor, id int64) (string, error) {
	if err := actor.require(ActManageConnector); err != nil {
		return "", err
	}
	c, err := s.store.ConnectorByID(ctx, id)
	if err != nil {
		return "", err
	}
	conn, err := s.openConnector(ctx, c)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	msg, err := conn.Test(ctx)
	if err != nil {
		return "", Errorf(EUNAVAILABLE, "connector %q: %s", c.Name, safeMessage(err))
	}
	return msg, nil
}
