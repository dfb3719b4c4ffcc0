package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NewAPIToken is the input for creating a token. A zero ExpiresAt means
// DefaultTokenLifetime; an empty Role means the ceiling's role.
type NewAPIToken struct {
	Name      string
	ExpiresAt time.Time
	Role      string
}

// CreatedAPIToken is a new token with its secret, which is shown once and
// never stored.
type CreatedAPIToken struct {
	Token  *APIToken
	Secret string
}

// errBadToken is the one answer for every API token that is not accepted,
// so a caller cannot tell unknown, expired, revoked and disabled apart.
var errBadToken = Errorf(EUNAUTHORIZED, "invalid or expired token")

// actorUser reads the acting user's row; tokens belong to users only.
func (s *Service) actorUser(ctx context.Context, q Queries, actor Actor) (*User, error) {
	if actor.Type != ActorUser || userID(actor) == 0 {
		return nil, Errorf(EFORBIDDEN, "only users hold API tokens")
	}
	return q.UserByID(ctx, userID(actor))
}

// CreateAPIToken creates a personal access token for the actor. Its role
// is at most the actor's (RoleWithin): with a token, at most that token's.
// Service accounts do not create their own tokens; an admin does.
func (s *Service) CreateAPIToken(ctx context.Context, actor Actor, in NewAPIToken) (*CreatedAPIToken, error) {
	var out *CreatedAPIToken
	err := s.store.WithTx(ctx, func(tx Tx) error {
		owner, err := s.actorUser(ctx, tx, actor)
		if err != nil {
			return err
		}
		if owner.Kind == KindService {
			return Errorf(EFORBIDDEN, "service accounts cannot create tokens; an admin creates them")
		}
		if owner.Disabled {
			return Errorf(EFORBIDDEN, "your account is disabled")
		}
		out, err = s.createToken(ctx, tx, actor, owner, actor.Role, in)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create api token: %w", err)
	}
	return out, nil
}

// CreateServiceAccountToken creates a token for a service account (Admin
// only); its role is at most the account's.
func (s *Service) CreateServiceAccountToken(ctx context.Context, actor Actor, accountID int64, in NewAPIToken) (*CreatedAPIToken, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	var out *CreatedAPIToken
	err := s.store.WithTx(ctx, func(tx Tx) error {
		acct, err := serviceAccount(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if acct.Disabled {
			return Errorf(ECONFLICT, "service account %s is disabled; enable it first", acct.Email)
		}
		// Only admins get here, and admin covers every role.
		out, err = s.createToken(ctx, tx, actor, acct, acct.Role, in)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create token for service account %d: %w", accountID, err)
	}
	return out, nil
}

func serviceAccount(ctx context.Context, q Queries, id int64) (*User, error) {
	u, err := q.UserByID(ctx, id)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, Errorf(ENOTFOUND, "service account not found")
		}
		return nil, err
	}
	if u.Kind != KindService {
		return nil, Errorf(ENOTFOUND, "service account not found")
	}
	return u, nil
}

// createToken validates in against ceiling, stores the token for owner and
// audits it, inside tx.
func (s *Service) createToken(ctx context.Context, tx Tx, actor Actor, owner *User, ceiling Role, in NewAPIToken) (*CreatedAPIToken, error) {
	name, err := validTokenName(in.Name)
	if err != nil {
		return nil, err
	}
	role := ceiling
	if in.Role != "" {
		if role, err = ParseRole(in.Role); err != nil {
			return nil, err
		}
	}
	if !RoleWithin(role, ceiling) {
		return nil, Errorf(EFORBIDDEN, "a token's role may not exceed %s; %s grants more", ceiling, role)
	}
	now := s.now().UTC()
	exp, err := tokenExpiry(now, in.ExpiresAt)
	if err != nil {
		return nil, err
	}
	secret, err := NewTokenSecret()
	if err != nil {
		return nil, err
	}
	t := &APIToken{UserID: owner.ID, Name: name, Role: role, Hash: HashToken(secret),
		CreatedAt: now.Truncate(time.Millisecond), ExpiresAt: exp, CreatedBy: userID(actor)}
	if err := tx.CreateAPIToken(ctx, t); err != nil {
		return nil, err
	}
	if err := s.appendAudit(ctx, tx, actor, "api_token.created", "api_token", strconv.FormatInt(t.ID, 10),
		map[string]any{"name": t.Name, "role": t.Role, "owner_id": owner.ID, "owner": owner.Email,
			"owner_kind": owner.Kind, "expires_at": t.ExpiresAt.Format(time.RFC3339)}); err != nil {
		return nil, err
	}
	return &CreatedAPIToken{Token: t, Secret: secret}, nil
}

// ListAPITokens returns a user's tokens, newest first: one's own, or any
// user's or service account's for admins.
func (s *Service) ListAPITokens(ctx context.Context, actor Actor, ownerID int64) ([]APIToken, error) {
	if err := s.mayManageTokensOf(actor, ownerID); err != nil {
		return nil, err
	}
	if _, err := s.store.UserByID(ctx, ownerID); err != nil {
		return nil, err
	}
	ts, err := s.store.ListAPITokens(ctx, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list api tokens of %d: %w", ownerID, err)
	}
	return ts, nil
}

// mayManageTokensOf: one's own tokens, or anyone's for admins.
func (s *Service) mayManageTokensOf(actor Actor, ownerID int64) error {
	if actor.Type == ActorUser && userID(actor) == ownerID || actor.can(ActManageUsers) {
		return nil
	}
	return Errorf(EFORBIDDEN, "only admins manage other users' tokens")
}

// MayManageTokensOf reports (as an error, nil when allowed) whether the
// actor may list and revoke ownerID's tokens; pages ask it for the link.
func (s *Service) MayManageTokensOf(actor Actor, ownerID int64) error {
	return s.mayManageTokensOf(actor, ownerID)
}

// RevokeAPIToken revokes a token: one's own, or anyone's for admins. The
// next request with it is refused. Revoking a revoked token changes nothing.
func (s *Service) RevokeAPIToken(ctx context.Context, actor Actor, id int64) (*APIToken, error) {
	var out *APIToken
	err := s.store.WithTx(ctx, func(tx Tx) error {
		t, err := tx.APITokenByID(ctx, id)
		if err != nil {
			return err
		}
		if err := s.mayManageTokensOf(actor, t.UserID); err != nil {
			return Errorf(ENOTFOUND, "token not found") // others' tokens do not exist for you
		}
		now := s.now().UTC()
		done, err := tx.RevokeAPIToken(ctx, id, now)
		if err != nil {
			return err
		}
		if done {
			t.RevokedAt = now.Truncate(time.Millisecond)
			owner, err := tx.UserByID(ctx, t.UserID)
			if err != nil {
				return err
			}
			if err := s.appendAudit(ctx, tx, actor, "api_token.revoked", "api_token", strconv.FormatInt(t.ID, 10),
				map[string]any{"name": t.Name, "owner_id": t.UserID, "owner": owner.Email}); err != nil {
				return err
			}
		} else if fresh, err := tx.APITokenByID(ctx, id); err == nil {
			t = fresh
		}
		out = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revoke api token %d: %w", id, err)
	}
	return out, nil
}

// TokenUse is where an API request with a token came from.
type TokenUse struct {
	ClientAddr string
	UserAgent  string
}

// maxUserAgentLen caps the stored user agent.
const maxUserAgentLen = 256

// AuthenticateAPIToken returns the actor behind an API token: the owner
// with the token's role, naming the token. A malformed, unknown, expired or
// revoked token, a disabled owner, or an owner whose role no longer covers
// the token's, is refused with EUNAUTHORIZED. The token's last use is
// recorded at most once a minute.
func (s *Service) AuthenticateAPIToken(ctx context.Context, token string, use TokenUse) (Actor, error) {
	if !LooksLikeAPIToken(token) {
		return Actor{}, errBadToken
	}
	t, u, err := s.store.APITokenByHash(ctx, HashToken(token))
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return Actor{}, errBadToken
		}
		return Actor{}, fmt.Errorf("authenticate token: %w", err)
	}
	now := s.now()
	if t.Status(now) != "active" || u.Disabled || !RoleWithin(t.Role, u.Role) {
		return Actor{}, errBadToken
	}
	if now.Sub(t.LastUsedAt) >= tokenTouchInterval {
		ua := use.UserAgent
		if len(ua) > maxUserAgentLen {
			ua = ua[:maxUserAgentLen]
		}
		ua = strings.ToValidUTF8(ua, "")
		err := s.store.WithTx(ctx, func(tx Tx) error {
			_, err := tx.TouchAPIToken(ctx, t.ID, now.UTC(), use.ClientAddr, ua, now.Add(-tokenTouchInterval+time.Millisecond))
			return err
		})
		if err != nil {
			// Bookkeeping only: a database that takes reads but no writes
			// (storage full) still serves the request.
			s.log.WarnContext(ctx, "record api token use", "token_id", t.ID, "err", err)
		}
	}
	act := UserActor(u)
	act.Role = t.Role
	act.TokenID, act.TokenName = t.ID, t.Name
	return act, nil
}

// NewServiceAccount is the input for creating a service account.
type NewServiceAccount struct {
	Name string
	Role string
}

// CreateServiceAccount adds a service account (Admin only): a principal
// with a role and no password that holds tokens only.
func (s *Service) CreateServiceAccount(ctx context.Context, actor Actor, in NewServiceAccount) (*User, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	name, err := NormalizeServiceAccountName(in.Name)
	if err != nil {
		return nil, err
	}
	role, err := ParseRole(in.Role)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u := &User{Email: name, PasswordHash: []byte{}, Role: role, Kind: KindService, SessionVersion: 1, CreatedAt: now, UpdatedAt: now}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if _, err := tx.UserByEmail(ctx, name); err == nil {
			return Errorf(ECONFLICT, "a service account named %s already exists", name)
		} else if ErrCode(err) != ENOTFOUND {
			return err
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "service_account.created", "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"name": u.Email, "role": u.Role})
	})
	if err != nil {
		return nil, fmt.Errorf("create service account %s: %w", name, err)
	}
	return u, nil
}

// ListServiceAccounts returns every service account (Admin only).
func (s *Service) ListServiceAccounts(ctx context.Context, actor Actor) ([]User, error) {
	users, err := s.ListUsers(ctx, actor)
	if err != nil {
		return nil, err
	}
	var out []User
	for _, u := range users {
		if u.Kind == KindService {
			out = append(out, u)
		}
	}
	return out, nil
}
