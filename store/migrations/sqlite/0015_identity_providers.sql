-- 0014: single sign-on. identity_providers are the admin-configured OIDC,
-- SAML and LDAP providers: config is the type's non-secret JSON,
-- sealed_secrets the vault-sealed secret JSON (client secret, bind password,
-- SAML key), rules the ordered group-to-role rules, default_role the role
-- when no rule matches ('' refuses the login), mfa_delegated whether the
-- provider's own MFA replaces Nexplane's for its users.
CREATE TABLE identity_providers (
	id                 INTEGER PRIMARY KEY,
	name               TEXT    NOT NULL UNIQUE,
	type               TEXT    NOT NULL,
	enabled            INTEGER NOT NULL DEFAULT 1,
	config             TEXT    NOT NULL,
	sealed_secrets     BLOB,
	secrets_updated_at INTEGER NOT NULL DEFAULT 0,
	rules              TEXT    NOT NULL DEFAULT '[]',
	default_role       TEXT    NOT NULL DEFAULT '',
	mfa_delegated      INTEGER NOT NULL DEFAULT 0,
	version            INTEGER NOT NULL DEFAULT 1,
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL
) STRICT;

-- How a user signs in, when it differs from a plain local account: the
-- provider and its stable subject the account is linked to (never the
-- email), whether local password login is off for this user, whether an
-- SSO user may have a local password, and whether the group mapping (not
-- an admin) disabled the account, so a later matching login may re-enable it.
CREATE TABLE user_sign_in (
	user_id                INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	provider_id            INTEGER REFERENCES identity_providers (id),
	subject                TEXT,
	local_login_disabled   INTEGER NOT NULL DEFAULT 0,
	local_password_allowed INTEGER NOT NULL DEFAULT 0,
	disabled_by_mapping    INTEGER NOT NULL DEFAULT 0,
	last_sso_login_at      INTEGER NOT NULL DEFAULT 0,
	UNIQUE (provider_id, subject),
	CHECK ((provider_id IS NULL) = (subject IS NULL))
) STRICT;

-- Redirect logins in progress: id is the hex SHA-256 of the state sent to
-- the provider, binding the hex SHA-256 of a random cookie of the browser
-- that started it; nonce and the PKCE verifier live only here. dry_run_user
-- is the admin running "try login" (no sign-in). Deleting the row is what
-- makes a state single use.
CREATE TABLE sso_logins (
	id            TEXT    PRIMARY KEY,
	provider_id   INTEGER NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
	binding       TEXT    NOT NULL,
	nonce         TEXT    NOT NULL,
	code_verifier TEXT    NOT NULL,
	dry_run_user  INTEGER REFERENCES users (id) ON DELETE CASCADE,
	created_at    INTEGER NOT NULL,
	expires_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX sso_logins_expires_at ON sso_logins (expires_at);
