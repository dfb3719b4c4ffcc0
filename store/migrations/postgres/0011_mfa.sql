-- 0011: second factors (MFA). One row per user and kind of factor; the
-- secret is sealed (AES-GCM under SECRET_KEY, additional data naming user and
-- kind). last_step is the last TOTP time step accepted, so a code works once.
-- confirmed_at is NULL while a set-up waits for its first code.
CREATE TABLE mfa_factors (
	user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind         TEXT    NOT NULL,
	sealed       BYTEA   NOT NULL,
	last_step    BIGINT  NOT NULL DEFAULT 0,
	confirmed_at BIGINT,
	created_at   BIGINT  NOT NULL,
	PRIMARY KEY (user_id, kind)
);

-- Recovery codes: SHA-256 of high-entropy codes, each usable once.
CREATE TABLE mfa_recovery_codes (
	user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash  TEXT    NOT NULL,
	created_at BIGINT  NOT NULL,
	used_at    BIGINT,
	PRIMARY KEY (user_id, code_hash)
);

-- Logins that passed the password step and wait for the second factor: the
-- console's half-logged-in state and the API's mfa_token. id is the hex
-- SHA-256 of the token; deleting the row is what makes the token single use.
CREATE TABLE mfa_challenges (
	id              TEXT    PRIMARY KEY,
	user_id         BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	session_version BIGINT  NOT NULL,
	via             TEXT    NOT NULL CHECK (via IN ('console', 'api')),
	created_at      BIGINT  NOT NULL,
	expires_at      BIGINT  NOT NULL
);

CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
