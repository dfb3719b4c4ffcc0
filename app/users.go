package app

import (
	"context"
	"fmt"
	"strconv"
)

// NewUser is the input for creating a user.
type NewUser struct {
	Email    string
	Password string
	Role     string
}

// CreateUser adds a user with a password the caller chose (Admin only): the
// CLI's bootstrap and automation path (user create --password-stdin) and
// test fixtures. Console and API invite instead (InviteUser), so that
// users set their own passwords.
func (s *Service) CreateUser(ctx context.Context, actor Actor, in NewUser) (*User, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	return s.createUser(ctx, actor, in, "user.created", nil)
}

func (s *Service) createUser(ctx context.Context, actor Actor, in NewUser, event string, guard func(tx Tx) error) (*User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	role, err := ParseRole(in.Role)
	if err != nil {
		return nil, err
	}
	if err := ValidatePassword(in.Password, email); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, fmt.Errorf("create user: hash password: %w", err)
	}
	now := s.now().UTC()
	u := &User{Email: email, PasswordHash: hash, Role: role, SessionVersion: 1, CreatedAt: now, UpdatedAt: now}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if guard != nil {
			if err := guard(tx); err != nil {
				return err
			}
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, event, "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"email": u.Email, "role": u.Role})
	})
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", email, err)
	}
	return u, nil
}

// CreateFirstAdmin creates the first admin from the setup page; it refuses
// once any user exists, so the setup link is useless afterwards.
func (s *Service) CreateFirstAdmin(ctx context.Context, email, password string) (*User, error) {
	guard := func(tx Tx) error {
		n, err := tx.CountUsers(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return Errorf(ECONFLICT, "setup is already complete; log in instead")
		}
		return nil
	}
	return s.createUser(ctx, SystemActor("setup"), NewUser{Email: email, Password: password, Role: string(RoleAdmin)}, "user.created", guard)
}

// NeedsSetup reports whether no user exists yet.
func (s *Service) NeedsSetup(ctx context.Context) (bool, error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return false, fmt.Errorf("count users: %w", err)
	}
	return n == 0, nil
}

// ListUsers returns every user (Admin only).
func (s *Service) ListUsers(ctx context.Context, actor Actor) ([]User, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	return s.store.ListUsers(ctx)
}

// GetUser returns one user (Admin only).
func (s *Service) GetUser(ctx context.Context, actor Actor, id int64) (*User, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	return s.store.UserByID(ctx, id)
}

// UserPatch changes a user's role and/or disabled flag; nil fields stay.
type UserPatch struct {
	Role     *string
	Disabled *bool
}

// UpdateUser applies a patch (Admin only). A role change or disable bumps the
// session version and ends the user's sessions in the same transaction, so
// their tokens and cookies stop working at once. The last active admin can be
// neither demoted nor disabled.
func (s *Service) UpdateUser(ctx context.Context, actor Actor, id int64, p UserPatch) (*User, error) {
	if err := actor.require(ActManageUsers); err != nil {
		return nil, err
	}
	if p.Role == nil && p.Disabled == nil {
		return nil, Errorf(EINVALID, "nothing to change: give role and/or disabled")
	}
	var newRole Role
	if p.Role != nil {
		r, err := ParseRole(*p.Role)
		if err != nil {
			return nil, err
		}
		newRole = r
	}
	// A patch that may take an admin away locks the active admins before
	// reading the user, so the count below is still true at commit.
	mayRemoveAdmin := (p.Role != nil && newRole != RoleAdmin) || (p.Disabled != nil && *p.Disabled)
	var out *User
	err := s.store.WithTx(ctx, func(tx Tx) error {
		admins := 0
		if mayRemoveAdmin {
			n, err := tx.LockActiveAdmins(ctx)
			if err != nil {
				return err
			}
			admins = n
		}
		u, err := tx.UserByID(ctx, id)
		if err != nil {
			return err
		}
		rid := strconv.FormatInt(u.ID, 10)
		wasActiveAdmin := u.Role == RoleAdmin && !u.Disabled
		type change struct {
			event   string
			payload map[string]any
		}
		var changes []change
		if p.Role != nil && newRole != u.Role {
			changes = append(changes, change{"user.role_changed", map[string]any{"email": u.Email, "from": u.Role, "to": newRole}})
			u.Role = newRole
		}
		if p.Disabled != nil && *p.Disabled != u.Disabled {
			ev := "user.enabled"
			if *p.Disabled {
				ev = "user.disabled"
			}
			changes = append(changes, change{ev, map[string]any{"email": u.Email}})
			u.Disabled = *p.Disabled
		}
		if len(changes) == 0 {
			out = u
			return nil
		}
		if wasActiveAdmin && (u.Role != RoleAdmin || u.Disabled) {
			if admins <= 1 {
				return Errorf(ECONFLICT, "%s is the last active admin and cannot be demoted or disabled", u.Email)
			}
		}
		u.SessionVersion++
		u.UpdatedAt = s.now().UTC()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		for _, c := range changes {
			if err := s.appendAudit(ctx, tx, actor, c.event, "user", rid, c.payload); err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update user %d: %w", id, err)
	}
	return out, nil
}

// ResetPassword sets a new password for the user with email (Admin or the
// CLI). It ends the user's tokens and sessions.
func (s *Service) ResetPassword(ctx context.Context, actor Actor, email, password string) error {
	if err := actor.require(ActManageUsers); err != nil {
		return err
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	if err := ValidatePassword(password, email); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("reset password: hash: %w", err)
	}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		u, err := tx.UserByEmail(ctx, email)
		if err != nil {
			return err
		}
		if u.Kind == KindService {
			return Errorf(EINVALID, "%s is a service account: it has no password", u.Email)
		}
		if err := localPasswordAllowed(ctx, tx, u); err != nil {
			return err
		}
		u.PasswordHash = hash
		u.SessionVersion++
		u.UpdatedAt = s.now().UTC()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		// A pending invitation or reset link would undo what was just set.
		if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
			return err
		}
		// A reset is how an account is taken back: its API tokens end too.
		if _, err := tx.RevokeUserTokens(ctx, u.ID, s.now()); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "user.password_changed", "user", strconv.FormatInt(u.ID, 10),
			map[string]any{"email": u.Email})
	})
	if err != nil {
		return fmt.Errorf("reset password for %s: %w", email, err)
	}
	return nil
}
