-- 0007: signed checkpoints of the audit chain head (app.Checkpoint), one
-- per seq, append-only like audit_log.

CREATE TABLE audit_checkpoints (
	seq           BIGINT PRIMARY KEY, -- the audit_log id signed (0: the empty chain)
	hash          TEXT   NOT NULL,
	record_digest TEXT   NOT NULL, -- app.AuditEvent.ContentDigest of that record
	at_ms         BIGINT NOT NULL,
	key_id        TEXT   NOT NULL,
	signature     BYTEA  NOT NULL
);

CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_checkpoints is append-only';
END;
$$;

CREATE TRIGGER audit_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON audit_checkpoints
	FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_append_only();

CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
	FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only();
