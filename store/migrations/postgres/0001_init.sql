-- 0001: users, sessions, the append-only audit log and settings.
-- Times are BIGINT unix milliseconds UTC: exact, sortable, the same in both dialects.

CREATE TABLE users (
	id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email           TEXT    NOT NULL,
	password_hash   BYTEA   NOT NULL,
	role            TEXT    NOT NULL,
	disabled        BOOLEAN NOT NULL DEFAULT FALSE,
	session_version BIGINT  NOT NULL DEFAULT 1,
	created_at      BIGINT  NOT NULL,
	updated_at      BIGINT  NOT NULL,
	-- Named so that the store can turn a violation into a safe message.
	CONSTRAINT users_email_key UNIQUE (email),
	CONSTRAINT users_role_check CHECK (role IN ('admin', 'operator', 'approver', 'viewer'))
);

CREATE TABLE sessions (
	id              TEXT   PRIMARY KEY, -- hex SHA-256 of the cookie token
	user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	session_version BIGINT NOT NULL,
	data            BYTEA  NOT NULL,
	created_at      BIGINT NOT NULL,
	last_seen_at    BIGINT NOT NULL
);

CREATE INDEX sessions_user_id ON sessions (user_id);

-- id is assigned by the store (previous id + 1) under an advisory lock inside
-- the appending transaction, so the hash chain has no gaps and no forks.
-- payload is TEXT, not jsonb, because the hash covers its exact bytes.
CREATE TABLE audit_log (
	id            BIGINT PRIMARY KEY,
	at_ms         BIGINT NOT NULL,
	actor_type    TEXT   NOT NULL,
	actor_id      TEXT   NOT NULL,
	actor_email   TEXT   NOT NULL,
	event         TEXT   NOT NULL,
	resource_type TEXT   NOT NULL,
	resource_id   TEXT   NOT NULL,
	payload       TEXT   NOT NULL,
	prev_hash     TEXT   NOT NULL,
	hash          TEXT   NOT NULL
);

-- One index per API filter, each ending in id so that "newest first" and the
-- keyset cursor (id < $n) are an index range scan, not a sort.
CREATE INDEX audit_log_resource ON audit_log (resource_type, resource_id, id);
CREATE INDEX audit_log_event ON audit_log (event, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, id);
CREATE INDEX audit_log_actor_email ON audit_log (actor_email, id);
CREATE INDEX audit_log_at ON audit_log (at_ms, id);

-- The database itself refuses to change history, whatever the code above it does.
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- TRUNCATE fires no row triggers, so it needs a statement trigger of its own.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE settings (
	key        TEXT   PRIMARY KEY,
	value      BYTEA  NOT NULL,
	updated_at BIGINT NOT NULL
);
