-- 0004: enrolled agents and the single-use tokens that enroll them.
-- Times are unix milliseconds; a time that has not happened is 0. JSON
-- columns are TEXT holding exactly the bytes the application gave.
-- Constraints are named so that the store can turn violations into safe messages.

CREATE TABLE agents (
	id               TEXT    NOT NULL, -- 16 hex characters, chosen by the server
	hostname         TEXT    NOT NULL,
	labels           TEXT    NOT NULL, -- JSON object
	cert_serial      TEXT    NOT NULL, -- lower-case hex
	cert_not_after   BIGINT  NOT NULL,
	-- The certificate the last renewal replaced, valid until the agent first
	-- uses the new one; '' when none.
	prev_cert_serial TEXT    NOT NULL DEFAULT '',
	enrolled_at      BIGINT  NOT NULL,
	last_seen        BIGINT  NOT NULL DEFAULT 0,
	revoked          BOOLEAN NOT NULL DEFAULT FALSE,
	revoked_at       BIGINT  NOT NULL DEFAULT 0,
	facts            TEXT    NOT NULL DEFAULT '', -- JSON or '' before the first heartbeat
	users            TEXT    NOT NULL DEFAULT '', -- JSON or '' before the first heartbeat
	version          TEXT    NOT NULL DEFAULT '',
	CONSTRAINT agents_pkey PRIMARY KEY (id),
	CONSTRAINT agents_cert_serial_key UNIQUE (cert_serial)
);

CREATE INDEX agents_hostname ON agents (hostname, id);
-- Listeners poll for revocations every second: keep that query tiny.
CREATE INDEX agents_revoked_at ON agents (revoked_at);

CREATE TABLE enrollment_tokens (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	token_hash  TEXT   NOT NULL, -- hex SHA-256; the token is never stored
	labels      TEXT   NOT NULL, -- JSON object
	created_by  TEXT   NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	used_at     BIGINT NOT NULL DEFAULT 0,
	used_by     TEXT   NOT NULL DEFAULT '', -- agent id; no foreign key: the record outlives it
	CONSTRAINT enrollment_tokens_token_hash_key UNIQUE (token_hash)
);
