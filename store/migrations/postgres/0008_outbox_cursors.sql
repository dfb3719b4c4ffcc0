-- 0008: the durable outbox cursor. One row per outbound stream (e.g.
-- 'syslog'): last_seq is the last audit id delivered and flushed, so a
-- restart resends from there (at-least-once, never a gap); last_error is the
-- last delivery failure ('' after a success). lease_owner/lease_until elect
-- one sender among servers sharing a database. Webhooks and email reuse it.
CREATE TABLE outbox_cursors (
	name        TEXT    PRIMARY KEY,
	last_seq    BIGINT  NOT NULL DEFAULT 0,
	last_error  TEXT    NOT NULL DEFAULT '',
	updated_at  BIGINT  NOT NULL,
	lease_owner TEXT    NOT NULL DEFAULT '',
	lease_until BIGINT  NOT NULL DEFAULT 0
);
