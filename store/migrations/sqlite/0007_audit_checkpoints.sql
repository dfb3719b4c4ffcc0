-- 0007: signed checkpoints of the audit chain head (app.Checkpoint), one
-- per seq, append-only like audit_log.

CREATE TABLE audit_checkpoints (
	seq           INTEGER PRIMARY KEY, -- the audit_log id signed (0: the empty chain)
	hash          TEXT    NOT NULL,
	record_digest TEXT    NOT NULL, -- app.AuditEvent.ContentDigest of that record
	at_ms         INTEGER NOT NULL,
	key_id        TEXT    NOT NULL,
	signature     BLOB    NOT NULL
) STRICT;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
	SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
	SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
