-- 0013: passkeys / security keys (WebAuthn). One row per registered
-- credential; credential_id is what the authenticator names it by (unique
-- across users), public_key the COSE key it signs with, sign_count the last
-- signature counter seen (a regression is refused), flags the WebAuthn
-- credential flags (backup eligibility must not change), name the user's
-- label (unique per user). No secret is stored.
CREATE TABLE passkeys (
	id               INTEGER PRIMARY KEY,
	user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id    BLOB    NOT NULL UNIQUE,
	public_key       BLOB    NOT NULL,
	sign_count       INTEGER NOT NULL DEFAULT 0,
	aaguid           BLOB    NOT NULL,
	transports       TEXT    NOT NULL DEFAULT '',
	attestation_type TEXT    NOT NULL DEFAULT '',
	flags            INTEGER NOT NULL DEFAULT 0,
	name             TEXT    NOT NULL,
	created_at       INTEGER NOT NULL,
	last_used_at     INTEGER,
	UNIQUE (user_id, name)
) STRICT;

-- WebAuthn ceremonies in progress (registration, login, second step,
-- re-authentication): the challenge and session data kept server-side. id is
-- the hex SHA-256 of a random token the browser holds in a cookie; binding
-- names the console session or half-finished login it belongs to (empty for
-- a passwordless login). Deleting the row is what makes it single use.
CREATE TABLE passkey_ceremonies (
	id         TEXT    PRIMARY KEY,
	kind       TEXT    NOT NULL CHECK (kind IN ('register', 'login', 'mfa', 'reauth')),
	user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
	binding    TEXT    NOT NULL DEFAULT '',
	name       TEXT    NOT NULL DEFAULT '',
	data       BLOB    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX passkey_ceremonies_expires_at ON passkey_ceremonies (expires_at);
