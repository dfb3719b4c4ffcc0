-- 0006: an approval is bound to exactly what its approver saw.
-- connectors.version bumps on every change of config, credentials or
-- approval policy; approvals.content_hash is the SHA-256 (hex) over the
-- canonical operations, connector id and connector version the approver
-- approved ('' for approvals recorded before this migration, which never
-- count again); change_contributors lists every user who created or edited
-- any revision of a request (none of them may approve or review it).

ALTER TABLE connectors ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

ALTER TABLE approvals ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';

CREATE TABLE change_contributors (
	change_request_id BIGINT NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	user_id           BIGINT NOT NULL REFERENCES users (id),
	user_email        TEXT   NOT NULL,
	CONSTRAINT change_contributors_pkey PRIMARY KEY (change_request_id, user_id)
);

-- The creators, then the editors the audit log remembers.
INSERT INTO change_contributors (change_request_id, user_id, user_email)
SELECT id, created_by, created_by_email FROM change_requests;
INSERT INTO change_contributors (change_request_id, user_id, user_email)
SELECT DISTINCT c.id, u.id, a.actor_email
FROM audit_log a JOIN change_requests c ON c.id::text = a.resource_id
JOIN users u ON u.id::text = a.actor_id
WHERE a.event = 'change.edited' AND a.resource_type = 'change_request' AND a.actor_type = 'user'
ON CONFLICT DO NOTHING;
