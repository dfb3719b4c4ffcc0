package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
)

const idpColumns = "id, name, type, enabled, config, sealed_secrets, secrets_updated_at, rules, default_role, mfa_delegated, version, created_at, updated_at"

func scanIdentityProvider(r rowScanner) (*app.IdentityProvider, error) {
	var p app.IdentityProvider
	var config, rules, defaultRole string
	var secretsAt, created, updated int64
	if err := r.Scan(&p.ID, &p.Name, &p.Type, &p.Enabled, &config, &p.SealedSecrets, &secretsAt, &rules,
		&defaultRole, &p.MFADelegated, &p.Version, &created, &updated); err != nil {
		return nil, err
	}
	p.Config = json.RawMessage(config)
	if err := json.Unmarshal([]byte(rules), &p.Rules); err != nil {
		return nil, fmt.Errorf("identity provider %d: decode rules: %w", p.ID, err)
	}
	p.DefaultRole = app.Role(defaultRole)
	p.SecretsUpdatedAt = fromOptMS(secretsAt)
	p.CreatedAt, p.UpdatedAt = fromMS(created), fromMS(updated)
	return &p, nil
}

func (q queries) IdentityProviderByID(ctx context.Context, id int64) (*app.IdentityProvider, error) {
	p, err := scanIdentityProvider(q.queryRow(ctx, "SELECT "+idpColumns+" FROM identity_providers WHERE id = ?", id))
	return p, mapErr("identity provider by id", "identity provider not found", err)
}

func (q queries) ListIdentityProviders(ctx context.Context) ([]app.IdentityProvider, error) {
	rows, err := q.query(ctx, "SELECT "+idpColumns+" FROM identity_providers ORDER BY name, id")
	if err != nil {
		return nil, mapErr("list identity providers", "", err)
	}
	defer rows.Close()
	var out []app.IdentityProvider
	for rows.Next() {
		p, err := scanIdentityProvider(rows)
		if err != nil {
			return nil, mapErr("list identity providers", "", err)
		}
		out = append(out, *p)
	}
	return out, mapErr("list identity providers", "", rows.Err())
}

func (q queries) CountProviderUsers(ctx context.Context, providerID int64) (int, error) {
	var n int
	err := q.queryRow(ctx, "SELECT count(*) FROM user_sign_in WHERE provider_id = ?", providerID).Scan(&n)
	return n, mapErr("count provider users", "", err)
}

const signInColumns = "user_id, provider_id, subject, local_login_disabled, local_password_allowed, disabled_by_mapping, last_sso_login_at"

func scanSignIn(dest []any, s *app.UserSignIn) []any {
	return append(dest, &s.UserID, (*nullInt)(&s.ProviderID), (*nullString)(&s.Subject), &s.LocalLoginDisabled,
		&s.LocalPasswordAllowed, &s.DisabledByMapping, (*optMS)(&s.LastSSOLoginAt))
}

func (q queries) UserSignInOf(ctx context.Context, userID int64) (*app.UserSignIn, error) {
	var s app.UserSignIn
	err := q.queryRow(ctx, "SELECT "+signInColumns+" FROM user_sign_in WHERE user_id = ?", userID).Scan(scanSignIn(nil, &s)...)
	if err != nil {
		return nil, mapErr("user sign-in", "user sign-in not found", err)
	}
	return &s, nil
}

func (q queries) UserBySubject(ctx context.Context, providerID int64, subject string) (*app.User, *app.UserSignIn, error) {
	var u app.User
	var s app.UserSignIn
	var created, updated int64
	dest := []any{&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled, &u.SessionVersion, &u.Kind, &created, &updated}
	err := q.queryRow(ctx, `SELECT u.id, u.email, u.password_hash, u.role, u.disabled, u.session_version, u.kind, u.created_at, u.updated_at,
	s.user_id, s.provider_id, s.subject, s.local_login_disabled, s.local_password_allowed, s.disabled_by_mapping, s.last_sso_login_at
FROM user_sign_in s JOIN users u ON u.id = s.user_id WHERE s.provider_id = ? AND s.subject = ?`, providerID, subject).
		Scan(scanSignIn(dest, &s)...)
	if err != nil {
		return nil, nil, mapErr("user by subject", "no user is linked to this subject", err)
	}
	u.CreatedAt, u.UpdatedAt = fromMS(created), fromMS(updated)
	return &u, &s, nil
}

func rulesJSON(rules []app.RoleRule) (string, error) {
	if rules == nil {
		rules = []app.RoleRule{}
	}
	b, err := json.Marshal(rules)
	if err != nil {
		return "", fmt.Errorf("encode role rules: %w", err)
	}
	return string(b), nil
}

func (t *tx) CreateIdentityProvider(ctx context.Context, p *app.IdentityProvider) error {
	rules, err := rulesJSON(p.Rules)
	if err != nil {
		return err
	}
	p.CreatedAt, p.UpdatedAt = fromMS(toMS(p.CreatedAt)), fromMS(toMS(p.UpdatedAt))
	if p.Version == 0 {
		p.Version = 1
	}
	err = t.queryRow(ctx, `INSERT INTO identity_providers (name, type, enabled, config, sealed_secrets, secrets_updated_at,
	rules, default_role, mfa_delegated, version, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Name, p.Type, p.Enabled, string(p.Config), p.SealedSecrets, toOptMS(p.SecretsUpdatedAt), rules,
		string(p.DefaultRole), p.MFADelegated, p.Version, toMS(p.CreatedAt), toMS(p.UpdatedAt)).Scan(&p.ID)
	return mapErr("create identity provider", "", err)
}

func (t *tx) UpdateIdentityProvider(ctx context.Context, p *app.IdentityProvider) error {
	rules, err := rulesJSON(p.Rules)
	if err != nil {
		return err
	}
	p.UpdatedAt = fromMS(toMS(p.UpdatedAt))
	res, err := t.exec(ctx, `UPDATE identity_providers SET name = ?, type = ?, enabled = ?, config = ?, sealed_secrets = ?,
	secrets_updated_at = ?, rules = ?, default_role = ?, mfa_delegated = ?, version = ?, updated_at = ? WHERE id = ?`,
		p.Name, p.Type, p.Enabled, string(p.Config), p.SealedSecrets, toOptMS(p.SecretsUpdatedAt), rules,
		string(p.DefaultRole), p.MFADelegated, p.Version, toMS(p.UpdatedAt), p.ID)
	if err != nil {
		return mapErr("update identity provider", "", err)
	}
	return mustAffect(res, "update identity provider", "identity provider not found")
}

func (t *tx) DeleteIdentityProvider(ctx context.Context, id int64) error {
	res, err := t.exec(ctx, "DELETE FROM identity_providers WHERE id = ?", id)
	if err != nil {
		return mapErr("delete identity provider", "", err)
	}
	return mustAffect(res, "delete identity provider", "identity provider not found")
}

func (t *tx) PutUserSignIn(ctx context.Context, s *app.UserSignIn) error {
	var provider sql.NullInt64
	var subject sql.NullString
	if s.ProviderID != 0 {
		provider = sql.NullInt64{Int64: s.ProviderID, Valid: true}
		subject = sql.NullString{String: s.Subject, Valid: true}
	}
	s.LastSSOLoginAt = roundOpt(s.LastSSOLoginAt)
	_, err := t.exec(ctx, `INSERT INTO user_sign_in (`+signInColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET provider_id = excluded.provider_id, subject = excluded.subject,
	local_login_disabled = excluded.local_login_disabled, local_password_allowed = excluded.local_password_allowed,
	disabled_by_mapping = excluded.disabled_by_mapping, last_sso_login_at = excluded.last_sso_login_at`,
		s.UserID, provider, subject, s.LocalLoginDisabled, s.LocalPasswordAllowed, s.DisabledByMapping, toOptMS(s.LastSSOLoginAt))
	return mapErr("put user sign-in", "", err)
}

const ssoLoginColumns = "id, provider_id, binding, nonce, code_verifier, dry_run_user, created_at, expires_at"

func (t *tx) CreateSSOLogin(ctx context.Context, l *app.SSOLogin) error {
	var dry sql.NullInt64
	if l.DryRunUser != 0 {
		dry = sql.NullInt64{Int64: l.DryRunUser, Valid: true}
	}
	l.CreatedAt, l.ExpiresAt = fromMS(toMS(l.CreatedAt)), fromMS(toMS(l.ExpiresAt))
	_, err := t.exec(ctx, "INSERT INTO sso_logins ("+ssoLoginColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		l.ID, l.ProviderID, l.Binding, l.Nonce, l.CodeVerifier, dry, toMS(l.CreatedAt), toMS(l.ExpiresAt))
	return mapErr("create sso login", "", err)
}

// ConsumeSSOLogin deletes and returns in one statement, so of two callbacks
// with one state exactly one gets it (see ConsumePasswordLink).
func (t *tx) ConsumeSSOLogin(ctx context.Context, id string) (*app.SSOLogin, error) {
	var l app.SSOLogin
	var created, expires int64
	err := t.queryRow(ctx, "DELETE FROM sso_logins WHERE id = ? RETURNING "+ssoLoginColumns, id).
		Scan(&l.ID, &l.ProviderID, &l.Binding, &l.Nonce, &l.CodeVerifier, (*nullInt)(&l.DryRunUser), &created, &expires)
	if err != nil {
		return nil, mapErr("consume sso login", "this login link was used already or has expired; start again", err)
	}
	l.CreatedAt, l.ExpiresAt = fromMS(created), fromMS(expires)
	return &l, nil
}

func (t *tx) DeleteExpiredSSOLogins(ctx context.Context, now time.Time) (int64, error) {
	res, err := t.exec(ctx, "DELETE FROM sso_logins WHERE expires_at <= ?", toMS(now))
	if err != nil {
		return 0, mapErr("delete expired sso logins", "", err)
	}
	n, err := res.RowsAffected()
	return n, mapErr("delete expired sso logins", "", err)
}

// nullInt scans a nullable integer as 0 when NULL.
type nullInt int64

func (n *nullInt) Scan(v any) error {
	var x sql.NullInt64
	if err := x.Scan(v); err != nil {
		return err
	}
	*n = nullInt(x.Int64)
	return nil
}

// nullString scans a nullable text as "" when NULL.
type nullString string

func (n *nullString) Scan(v any) error {
	var x sql.NullString
	if err := x.Scan(v); err != nil {
		return err
	}
	*n = nullString(x.String)
	return nil
}

// optMS scans milliseconds where 0 means "never" (see fromOptMS).
type optMS time.Time

func (o *optMS) Scan(v any) error {
	var x sql.NullInt64
	if err := x.Scan(v); err != nil {
		return err
	}
	*o = optMS(fromOptMS(x.Int64))
	return nil
}
