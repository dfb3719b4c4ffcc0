-- 0004: enrolled agents and the single-use tokens that enroll them.
-- Times are unix milliseconds; a time that has not happened is 0. JSON
-- columns are TEXT holding exactly the bytes the application gave.

CREATE TABLE agents (
	id               TEXT    PRIMARY KEY, -- 16 hex characters, chosen by the server
	hostname         TEXT    NOT NULL,
	labels           TEXT    NOT NULL, -- JSON object
	cert_serial      TEXT    NOT NULL UNIQUE, -- lower-case hex
	cert_not_after   INTEGER NOT NULL,
	-- The certificate the last renewal replaced, valid until the agent first
	-- uses the new one; '' when none.
	prev_cert_serial TEXT    NOT NULL DEFAULT '',
	enrolled_at      INTEGER NOT NULL,
	last_seen        INTEGER NOT NULL DEFAULT 0,
	revoked          INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
	revoked_at       INTEGER NOT NULL DEFAULT 0,
	facts            TEXT    NOT NULL DEFAULT '', -- JSON or '' before the first heartbeat
	users            TEXT    NOT NULL DEFAULT '', -- JSON or '' before the first heartbeat
	version          TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX agents_hostname ON agents (hostname, id);
-- Listeners poll for revocations every second: keep that query tiny.
CREATE INDEX agents_revoked_at ON agents (revoked_at);

CREATE TABLE enrollment_tokens (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	token_hash  TEXT    NOT NULL UNIQUE, -- hex SHA-256; the token is never stored
	labels      TEXT    NOT NULL, -- JSON object
	created_by  TEXT    NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	used_at     INTEGER NOT NULL DEFAULT 0,
	used_by     TEXT    NOT NULL DEFAULT '' -- agent id; no foreign key: the record outlives it
) STRICT;
