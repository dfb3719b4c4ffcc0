package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Service holds the use cases. Every method that changes state runs one
// store transaction that also appends the audit event recording it.
type Service struct {
	store    Store
	hasher   PasswordHasher
	limiter  *LoginLimiter
	registry *Registry
	sealer   Sealer
	now      Clock
	log      *slog.Logger
	// queued is told (without blocking) when a change request starts
	// executing, so an in-process engine picks it up at once.
	queued func(changeID int64)
	// syncing holds the ids of connectors being fully synced in this
	// process (a second full sync is refused).
	syncing sync.Map
	// syncLocks holds, per connector id, a one-slot channel that every
	// sync of it (full or targeted) holds while it reads and writes.
	syncLocks sync.Map
	// agents issues agent certificates; nil when the agent listener is off.
	agents AgentSigner
	// agentRevoked is told after an agent's revocation commits, so open
	// connections of that agent close at once.
	agentRevoked func(agentID string)
}

// Config wires a Service. Clock and Logger default to time.Now and
// slog.Default; Limiter defaults to NewLoginLimiter(LoginLimitConfig{}).
type Config struct {
	Store    Store
	Hasher   PasswordHasher
	Limiter  *LoginLimiter
	Registry *Registry // connector drivers and operation types; empty when nil
	Sealer   Sealer    // required for connectors with credentials
	Clock    Clock
	Logger   *slog.Logger
	// Queued, when set, is called after a change request enters executing.
	Queued func(changeID int64)
	// Agents, when set, issues agent certificates (app/pki's CA).
	Agents AgentSigner
	// AgentRevoked, when set, is called after an agent is revoked.
	AgentRevoked func(agentID string)
}

// NewService builds the use-case layer.
func NewService(cfg Config) *Service {
	s := &Service{store: cfg.Store, hasher: cfg.Hasher, limiter: cfg.Limiter, registry: cfg.Registry,
		sealer: cfg.Sealer, now: cfg.Clock, log: cfg.Logger, queued: cfg.Queued,
		agents: cfg.Agents, agentRevoked: cfg.AgentRevoked}
	if s.registry == nil {
		s.registry = NewRegistry()
	}
	if s.queued == nil {
		s.queued = func(int64) {}
	}
	if s.agentRevoked == nil {
		s.agentRevoked = func(string) {}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.limiter == nil {
		s.limiter = NewLoginLimiter(LoginLimitConfig{})
	}
	return s
}

// Store exposes the underlying store for wiring (key loading, health).
func (s *Service) Store() Store { return s.store }

// Registry exposes the connector drivers and operation types.
func (s *Service) Registry() *Registry { return s.registry }

// appendAudit records one event in tx; a failure fails the whole change.
func (s *Service) appendAudit(ctx context.Context, tx Tx, actor Actor, event, resourceType, resourceID string, payload any) error {
	ev, err := NewAuditEvent(s.now(), actor, event, resourceType, resourceID, payload)
	if err != nil {
		return fmt.Errorf("build audit event %s: %w", event, err)
	}
	if err := tx.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("append audit event %s: %w", event, err)
	}
	return nil
}

// Ready reports whether the database is reachable and fully migrated.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		if ErrCode(err) == EUNAVAILABLE { // says which: unreachable or storage full
			return fmt.Errorf("ready: %w", err)
		}
		return Wrap(EUNAVAILABLE, err, "database unreachable")
	}
	applied, latest, err := s.store.SchemaVersion(ctx)
	if err != nil {
		return Errorf(EUNAVAILABLE, "schema version unknown")
	}
	if applied != latest {
		return Errorf(EUNAVAILABLE, "schema at version %d, want %d", applied, latest)
	}
	return nil
}
