package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// IdentityProviderInput creates an identity provider. Secrets is the secret
// JSON of the type's Secret fields; it is sealed and never returned.
type IdentityProviderInput struct {
	Name         string
	Type         string
	Enabled      *bool // nil: enabled
	Config       json.RawMessage
	Secrets      json.RawMessage
	Rules        []RoleRule
	DefaultRole  Role
	MFADelegated bool
}

// IdentityProviderPatch changes a provider; nil fields stay.
type IdentityProviderPatch struct {
	Name         *string
	Enabled      *bool
	Config       json.RawMessage
	Secrets      json.RawMessage
	Rules        *[]RoleRule
	DefaultRole  *Role
	MFADelegated *bool
}

var providerNameRE = regexp.MustCompile(`^\S(.{0,62}\S)?$`)

func validateProviderName(name string) error {
	if !providerNameRE.MatchString(name) || strings.ContainsAny(name, "\r\n\t") {
		return Errorf(EINVALID, "name must be 1 to 64 characters on one line, without surrounding spaces")
	}
	return nil
}

// identityProviderAudit is what the audit log records of a provider: never
// the secrets, only whether they are set.
func identityProviderAudit(p *IdentityProvider) map[string]any {
	return map[string]any{"name": p.Name, "type": p.Type, "enabled": p.Enabled, "config": p.Config,
		"secrets_set": p.SealedSecrets != nil, "rules": p.Rules, "default_role": p.DefaultRole,
		"mfa_delegated": p.MFADelegated, "version": p.Version}
}

func validateProviderConfig(t IdentityProviderType, config json.RawMessage) (json.RawMessage, error) {
	if err := t.ConfigSpec().CheckConfig(t.Type()+" config", config); err != nil {
		return nil, err
	}
	return t.ValidateConfig(config)
}

// sealProviderSecrets validates and seals secrets for provider p.
func (s *Service) sealProviderSecrets(t IdentityProviderType, p *IdentityProvider, secrets json.RawMessage) error {
	if err := t.ConfigSpec().CheckCredentials(t.Type()+" secrets", secrets); err != nil {
		return err
	}
	if s.sealer == nil {
		return fmt.Errorf("seal provider secrets: no sealer configured")
	}
	sealed, err := s.sealer.Seal(secrets, p.SecretsAD())
	if err != nil {
		return fmt.Errorf("seal secrets of identity provider %d: %w", p.ID, err)
	}
	p.SealedSecrets = sealed
	p.SecretsUpdatedAt = s.now().UTC()
	return nil
}

// requiredSecretsMissing names the required Secret fields a provider lacks
// when it has no secrets stored.
func requiredSecretsMissing(t IdentityProviderType, p *IdentityProvider) error {
	if p.SealedSecrets != nil {
		return nil
	}
	for _, f := range t.ConfigSpec().Secrets() {
		if f.Required {
			return Errorf(EINVALID, "%s secrets: %s is required", t.Type(), f.Name)
		}
	}
	return nil
}

// CreateIdentityProvider adds a provider (Admin only).
func (s *Service) CreateIdentityProvider(ctx context.Context, actor Actor, in IdentityProviderInput) (*IdentityProvider, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return nil, err
	}
	if err := validateProviderName(in.Name); err != nil {
		return nil, err
	}
	t, err := s.registry.IdentityProviderType(in.Type)
	if err != nil {
		return nil, err
	}
	cfg, err := validateProviderConfig(t, in.Config)
	if err != nil {
		return nil, err
	}
	if err := validateRoleRules(in.Rules, in.DefaultRole); err != nil {
		return nil, err
	}
	if hasJSON(in.Secrets) {
		// Checked before any write so bad secrets leave nothing behind.
		if err := t.ConfigSpec().CheckCredentials(t.Type()+" secrets", in.Secrets); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	p := &IdentityProvider{Name: in.Name, Type: in.Type, Enabled: in.Enabled == nil || *in.Enabled, Config: cfg,
		Rules: slices.Clone(in.Rules), DefaultRole: in.DefaultRole, MFADelegated: in.MFADelegated, Version: 1,
		CreatedAt: now, UpdatedAt: now}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.CreateIdentityProvider(ctx, p); err != nil {
			return err
		}
		// The sealed value is bound to the row id, known only after insert.
		if hasJSON(in.Secrets) {
			if err := s.sealProviderSecrets(t, p, in.Secrets); err != nil {
				return err
			}
			if err := tx.UpdateIdentityProvider(ctx, p); err != nil {
				return err
			}
		}
		if err := requiredSecretsMissing(t, p); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "identity_provider.created", "identity_provider",
			strconv.FormatInt(p.ID, 10), identityProviderAudit(p))
	})
	if err != nil {
		return nil, fmt.Errorf("create identity provider %q: %w", in.Name, err)
	}
	return p, nil
}

// UpdateIdentityProvider changes a provider (Admin only). Enabling and
// disabling are changes too.
func (s *Service) UpdateIdentityProvider(ctx context.Context, actor Actor, id int64, pa IdentityProviderPatch) (*IdentityProvider, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return nil, err
	}
	var out *IdentityProvider
	err := s.store.WithTx(ctx, func(tx Tx) error {
		p, err := tx.IdentityProviderByID(ctx, id)
		if err != nil {
			return err
		}
		t, err := s.registry.IdentityProviderType(p.Type)
		if err != nil {
			return err
		}
		var changed []string
		if pa.Name != nil && *pa.Name != p.Name {
			if err := validateProviderName(*pa.Name); err != nil {
				return err
			}
			p.Name = *pa.Name
			changed = append(changed, "name")
		}
		if pa.Enabled != nil && *pa.Enabled != p.Enabled {
			p.Enabled = *pa.Enabled
			changed = append(changed, "enabled")
		}
		if pa.Config != nil {
			cfg, err := validateProviderConfig(t, pa.Config)
			if err != nil {
				return err
			}
			if p.SealedSecrets != nil && !hasJSON(pa.Secrets) {
				moved, err := t.ConfigSpec().movedLocators(p.Config, cfg)
				if err != nil {
					return err
				}
				if len(moved) > 0 {
					return Errorf(ECREDENTIALS, "changing %s changes where the stored secrets are sent: enter the secrets again",
						strings.Join(moved, ", "))
				}
			}
			if !bytes.Equal(cfg, p.Config) {
				p.Config = cfg
				changed = append(changed, "config")
			}
		}
		rules, defaultRole := p.Rules, p.DefaultRole
		if pa.Rules != nil {
			rules = *pa.Rules
		}
		if pa.DefaultRole != nil {
			defaultRole = *pa.DefaultRole
		}
		if err := validateRoleRules(rules, defaultRole); err != nil {
			return err
		}
		if !slices.Equal(rules, p.Rules) {
			p.Rules = slices.Clone(rules)
			changed = append(changed, "rules")
		}
		if defaultRole != p.DefaultRole {
			p.DefaultRole = defaultRole
			changed = append(changed, "default_role")
		}
		if pa.MFADelegated != nil && *pa.MFADelegated != p.MFADelegated {
			p.MFADelegated = *pa.MFADelegated
			changed = append(changed, "mfa_delegated")
		}
		if hasJSON(pa.Secrets) {
			if err := s.sealProviderSecrets(t, p, pa.Secrets); err != nil {
				return err
			}
			changed = append(changed, "secrets")
		}
		out = p
		if len(changed) == 0 {
			return nil
		}
		p.Version++
		p.UpdatedAt = s.now().UTC()
		if err := tx.UpdateIdentityProvider(ctx, p); err != nil {
			return err
		}
		payload := identityProviderAudit(p)
		payload["changed"] = changed
		return s.appendAudit(ctx, tx, actor, "identity_provider.updated", "identity_provider", strconv.FormatInt(p.ID, 10), payload)
	})
	if err != nil {
		return nil, fmt.Errorf("update identity provider %d: %w", id, err)
	}
	return out, nil
}

// DeleteIdentityProvider removes a provider no user is linked to (Admin
// only); one with users is disabled instead, so their accounts keep their
// link.
func (s *Service) DeleteIdentityProvider(ctx context.Context, actor Actor, id int64) error {
	if err := actor.require(ActManageSettings); err != nil {
		return err
	}
	err := s.store.WithTx(ctx, func(tx Tx) error {
		p, err := tx.IdentityProviderByID(ctx, id)
		if err != nil {
			return err
		}
		n, err := tx.CountProviderUsers(ctx, id)
		if err != nil {
			return err
		}
		if n > 0 {
			return Errorf(ECONFLICT, "%d user(s) sign in through this provider: disable it instead", n)
		}
		if err := tx.DeleteIdentityProvider(ctx, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "identity_provider.deleted", "identity_provider", strconv.FormatInt(id, 10),
			map[string]any{"name": p.Name, "type": p.Type})
	})
	if err != nil {
		return fmt.Errorf("delete identity provider %d: %w", id, err)
	}
	return nil
}

// GetIdentityProvider returns one provider (Admin only).
func (s *Service) GetIdentityProvider(ctx context.Context, actor Actor, id int64) (*IdentityProvider, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return nil, err
	}
	return s.store.IdentityProviderByID(ctx, id)
}

// ListIdentityProviders returns every provider (Admin only).
func (s *Service) ListIdentityProviders(ctx context.Context, actor Actor) ([]IdentityProvider, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return nil, err
	}
	return s.store.ListIdentityProviders(ctx)
}

// LoginChoice is a provider as the login page offers it to anyone.
type LoginChoice struct {
	ID   int64
	Name string
	// Redirect is true for browser flows (a button), false for password
	// flows (a username and password form).
	Redirect bool
}

// LoginChoices lists the enabled providers whose type this binary can log
// in with, by name; no authentication needed (the login page).
func (s *Service) LoginChoices(ctx context.Context) ([]LoginChoice, error) {
	ps, err := s.store.ListIdentityProviders(ctx)
	if err != nil {
		return nil, fmt.Errorf("login choices: %w", err)
	}
	var out []LoginChoice
	for _, p := range ps {
		if !p.Enabled {
			continue
		}
		t, err := s.registry.IdentityProviderType(p.Type)
		if err != nil {
			continue
		}
		switch t.(type) {
		case RedirectFlow:
			out = append(out, LoginChoice{ID: p.ID, Name: p.Name, Redirect: true})
		case PasswordFlow:
			out = append(out, LoginChoice{ID: p.ID, Name: p.Name})
		}
	}
	return out, nil
}
