-- 0001: users, sessions, the append-only audit log and settings.
-- Times are INTEGER unix milliseconds UTC: exact, sortable, the same in both dialects.
-- STRICT tables make SQLite refuse values of the wrong type instead of storing them.

CREATE TABLE users (
	id              INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: ids are never reused
	email           TEXT    NOT NULL UNIQUE,
	password_hash   BLOB    NOT NULL,
	role            TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'approver', 'viewer')),
	disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	session_version INTEGER NOT NULL DEFAULT 1,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
	id              TEXT    PRIMARY KEY, -- hex SHA-256 of the cookie token
	user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	session_version INTEGER NOT NULL,
	data            BLOB    NOT NULL,
	created_at      INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_user_id ON sessions (user_id);

-- id is assigned by the store (previous id + 1) inside the appending
-- transaction, so the hash chain has no gaps and no forks. payload is TEXT,
-- not a JSON type, because the hash covers its exact bytes.
CREATE TABLE audit_log (
	id            INTEGER PRIMARY KEY,
	at_ms         INTEGER NOT NULL,
	actor_type    TEXT    NOT NULL,
	actor_id      TEXT    NOT NULL,
	actor_email   TEXT    NOT NULL,
	event         TEXT    NOT NULL,
	resource_type TEXT    NOT NULL,
	resource_id   TEXT    NOT NULL,
	payload       TEXT    NOT NULL,
	prev_hash     TEXT    NOT NULL,
	hash          TEXT    NOT NULL
) STRICT;

-- One index per API filter, each ending in id so that "newest first" and the
-- keyset cursor (id < ?) are an index range scan, not a sort.
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id, id);
CREATE INDEX audit_log_event ON audit_log (event, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, id);
CREATE INDEX audit_log_actor_email ON audit_log (actor_email, id);
CREATE INDEX audit_log_at ON audit_log (at_ms, id);

-- The database itself refuses to change history, whatever the code above it does.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE settings (
	key        TEXT    PRIMARY KEY,
	value      BLOB    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
