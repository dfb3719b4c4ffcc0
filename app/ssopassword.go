package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// errBadDirectoryCredentials is the one message for unknown users, wrong
// passwords and disabled or locked directory accounts, as for local login.
var errBadDirectoryCredentials = Errorf(EUNAUTHORIZED, "username or password is incorrect")

// SSOPasswordInput is one login attempt through a password provider
// (LDAP/AD): the username and password are checked by the directory.
type SSOPasswordInput struct {
	ProviderID int64
	Username   string
	Password   string
	ClientAddr string
	UserAgent  string
}

// SSOPasswordLogin signs a user in through a password provider, under the
// same rate limits as local login, then applies the account rules like any
// single sign-on (just-in-time creation, the mapping re-applied). A wrong
// password, an unknown user and a disabled or locked directory account get
// the same refusal; an unreachable directory is EUNAVAILABLE.
func (s *Service) SSOPasswordLogin(ctx context.Context, in SSOPasswordInput) (*LoginResult, error) {
	p, err := s.store.IdentityProviderByID(ctx, in.ProviderID)
	if err != nil {
		return nil, fmt.Errorf("password sso login: %w", err)
	}
	username := strings.TrimSpace(in.Username)
	submitted := truncateIdentifier(username)
	meta := map[string]any{"via": "console", "method": "sso", "provider_id": p.ID, "provider": p.Name,
		"username": submitted, "client_addr": in.ClientAddr}
	if !p.Enabled {
		return nil, s.refuseSSO(ctx, nil, Actor{Type: ActorUser}, reasonDisabledIdP, meta)
	}
	t, err := s.registry.IdentityProviderType(p.Type)
	if err != nil {
		return nil, err
	}
	flow, ok := t.(PasswordFlow)
	if !ok {
		return nil, Errorf(EINVALID, "%s providers do not sign in with a username and password", p.Type)
	}
	run, err := s.providerRun(p)
	if err != nil {
		return nil, err
	}

	// The limiter's account is the provider's username: the directory, not
	// Nexplane, knows which user it is.
	account := "idp:" + strconv.FormatInt(p.ID, 10) + ":" + strings.ToLower(username)
	now := s.now()
	if retry, ok := s.limiter.Allow(account, in.ClientAddr, now, time.Time{}); !ok {
		s.log.WarnContext(ctx, "sso password login rate limited", "client_addr", in.ClientAddr, "provider_id", p.ID)
		secs := max(int(retry.Round(time.Second)/time.Second), 1)
		return nil, &Error{Code: ERATELIMITED, RetryAfter: retry,
			Message: fmt.Sprintf("too many failed login attempts; try again in %d seconds", secs)}
	}

	ident, err := flow.Authenticate(ctx, run, username, in.Password)
	if err != nil {
		reason := ""
		switch ErrCode(err) {
		case EUNAUTHORIZED:
			reason = "invalid_credentials"
		case EFORBIDDEN:
			reason = "disabled"
		default:
			return nil, fmt.Errorf("password sso login through provider %d: %w", p.ID, err)
		}
		s.limiter.Fail(account, in.ClientAddr, now)
		meta["detail"] = ErrMessage(err)
		if rerr := s.refuseSSO(ctx, nil, Actor{Type: ActorUser}, &ssoReason{code: reason}, meta); ErrCode(rerr) != EUNAUTHORIZED {
			return nil, rerr
		}
		return nil, errBadDirectoryCredentials
	}
	s.limiter.Succeed(account, in.ClientAddr)
	return s.signInIdentity(ctx, p, ident, LoginInput{ClientAddr: in.ClientAddr, UserAgent: in.UserAgent, Console: true}, meta)
}
