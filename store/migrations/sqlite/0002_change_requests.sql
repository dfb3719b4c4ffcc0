-- 0002: connectors, change requests with their operations and approvals, and
-- one-time reveals of generated secrets.
-- A time that has not happened yet (submitted_at of a draft, …) is 0. JSON
-- columns are TEXT holding exactly the bytes the application gave.

CREATE TABLE connectors (
	id                     INTEGER PRIMARY KEY AUTOINCREMENT,
	name                   TEXT    NOT NULL UNIQUE,
	type                   TEXT    NOT NULL,
	config                 TEXT    NOT NULL, -- JSON, never secret
	sealed_credentials     BLOB,             -- Sealer output; NULL when none
	credentials_updated_at INTEGER NOT NULL DEFAULT 0,
	required_approvals     INTEGER NOT NULL CHECK (required_approvals >= 1),
	created_at             INTEGER NOT NULL,
	updated_at             INTEGER NOT NULL
) STRICT;

CREATE TABLE change_requests (
	id                      INTEGER PRIMARY KEY AUTOINCREMENT,
	title                   TEXT    NOT NULL,
	description             TEXT    NOT NULL,
	-- RESTRICT: a connector with history cannot disappear from under it.
	connector_id            INTEGER NOT NULL REFERENCES connectors (id) ON DELETE RESTRICT,
	created_by              INTEGER NOT NULL REFERENCES users (id),
	created_by_email        TEXT    NOT NULL,
	state                   TEXT    NOT NULL CHECK (state IN ('draft', 'submitted', 'approved', 'executing',
		'succeeded', 'failed', 'rejected', 'cancelled', 'interrupted')),
	revision                INTEGER NOT NULL,
	emergency               INTEGER NOT NULL DEFAULT 0 CHECK (emergency IN (0, 1)),
	emergency_justification TEXT    NOT NULL DEFAULT '',
	emergency_by            INTEGER NOT NULL DEFAULT 0, -- user id; 0 = none
	reviewed_by             INTEGER NOT NULL DEFAULT 0, -- user id; 0 = not reviewed
	reviewed_at             INTEGER NOT NULL DEFAULT 0,
	review_comment          TEXT    NOT NULL DEFAULT '',
	lease_owner             TEXT    NOT NULL DEFAULT '', -- '' = queued for the next worker
	lease_expires_at        INTEGER NOT NULL DEFAULT 0,
	created_at              INTEGER NOT NULL,
	updated_at              INTEGER NOT NULL,
	submitted_at            INTEGER NOT NULL DEFAULT 0,
	started_at              INTEGER NOT NULL DEFAULT 0,
	finished_at             INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One index per list filter, each ending in id: newest first and the keyset
-- cursor (id < ?) are an index range scan. connector_id also serves the
-- RESTRICT check when a connector is deleted.
CREATE INDEX change_requests_state ON change_requests (state, id);
CREATE INDEX change_requests_connector ON change_requests (connector_id, id);
CREATE INDEX change_requests_created_by ON change_requests (created_by, id);
-- The worker's queue and lease sweep; the store's queries spell the same
-- predicates so that the planner can use these partial indexes.
CREATE INDEX change_requests_executing ON change_requests (lease_owner, id) WHERE state = 'executing';
CREATE INDEX change_requests_needs_review ON change_requests (id) WHERE emergency AND reviewed_by = 0;

CREATE TABLE change_operations (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	change_request_id INTEGER NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	seq               INTEGER NOT NULL, -- 0-based order of execution
	type              TEXT    NOT NULL,
	params            TEXT    NOT NULL, -- JSON, never secret
	plan              TEXT    NOT NULL DEFAULT '',
	status            TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
	result            TEXT    NOT NULL DEFAULT '', -- JSON or '' before execution
	error             TEXT    NOT NULL DEFAULT '',
	started_at        INTEGER NOT NULL DEFAULT 0,
	finished_at       INTEGER NOT NULL DEFAULT 0,
	UNIQUE (change_request_id, seq)
) STRICT;

CREATE TABLE approvals (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	change_request_id INTEGER NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	user_id           INTEGER NOT NULL REFERENCES users (id),
	user_email        TEXT    NOT NULL,
	decision          TEXT    NOT NULL CHECK (decision IN ('approve', 'reject', 'review')),
	comment           TEXT    NOT NULL DEFAULT '',
	revision          INTEGER NOT NULL,
	void              INTEGER NOT NULL DEFAULT 0 CHECK (void IN (0, 1)),
	at                INTEGER NOT NULL
) STRICT;

CREATE INDEX approvals_change_request ON approvals (change_request_id, id);

-- A secret waiting to be shown once; erased when shown or expired.
CREATE TABLE reveals (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	change_request_id INTEGER NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	operation_id      INTEGER NOT NULL UNIQUE REFERENCES change_operations (id) ON DELETE CASCADE,
	user_id           INTEGER NOT NULL REFERENCES users (id),
	sealed            BLOB    NOT NULL,
	expires_at        INTEGER NOT NULL,
	created_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX reveals_change_request ON reveals (change_request_id, id);
CREATE INDEX reveals_expires_at ON reveals (expires_at);
