-- 0010: personal access tokens and service accounts.
-- users.kind tells people ('human') from service accounts ('service'):
-- non-human principals with a role and no password that hold API tokens only.
-- A service account's name is kept in users.email (names never contain '@').
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'human'
	CONSTRAINT users_kind_check CHECK (kind IN ('human', 'service'));

-- api_tokens keeps only the SHA-256 (hex) of each token. Times are unix ms;
-- 0 means never (last_used_at) or not revoked (revoked_at).
CREATE TABLE api_tokens (
	id                   BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id              BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name                 TEXT    NOT NULL,
	role                 TEXT    NOT NULL,
	token_hash           TEXT    NOT NULL,
	created_at           BIGINT  NOT NULL,
	expires_at           BIGINT  NOT NULL,
	last_used_at         BIGINT  NOT NULL DEFAULT 0,
	last_used_ip         TEXT    NOT NULL DEFAULT '',
	last_used_user_agent TEXT    NOT NULL DEFAULT '',
	revoked_at           BIGINT  NOT NULL DEFAULT 0,
	created_by           BIGINT  NOT NULL,
	CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash),
	CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'operator', 'approver', 'viewer'))
);

CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
