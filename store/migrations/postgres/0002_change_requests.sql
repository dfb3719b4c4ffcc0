-- 0002: connectors, change requests with their operations and approvals, and
-- one-time reveals of generated secrets.
-- A time that has not happened yet (submitted_at of a draft, …) is 0. JSON
-- columns are TEXT holding exactly the bytes the application gave.
-- Constraints are named so that the store can turn violations into safe messages.

CREATE TABLE connectors (
	id                     BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name                   TEXT    NOT NULL,
	type                   TEXT    NOT NULL,
	config                 TEXT    NOT NULL, -- JSON, never secret
	sealed_credentials     BYTEA,            -- Sealer output; NULL when none
	credentials_updated_at BIGINT  NOT NULL DEFAULT 0,
	required_approvals     INTEGER NOT NULL,
	created_at             BIGINT  NOT NULL,
	updated_at             BIGINT  NOT NULL,
	CONSTRAINT connectors_name_key UNIQUE (name),
	CONSTRAINT connectors_required_approvals_check CHECK (required_approvals >= 1)
);

CREATE TABLE change_requests (
	id                      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	title                   TEXT    NOT NULL,
	description             TEXT    NOT NULL,
	-- RESTRICT: a connector with history cannot disappear from under it.
	connector_id            BIGINT  NOT NULL,
	created_by              BIGINT  NOT NULL,
	created_by_email        TEXT    NOT NULL,
	state                   TEXT    NOT NULL,
	revision                BIGINT  NOT NULL,
	emergency               BOOLEAN NOT NULL DEFAULT FALSE,
	emergency_justification TEXT    NOT NULL DEFAULT '',
	emergency_by            BIGINT  NOT NULL DEFAULT 0, -- user id; 0 = none
	reviewed_by             BIGINT  NOT NULL DEFAULT 0, -- user id; 0 = not reviewed
	reviewed_at             BIGINT  NOT NULL DEFAULT 0,
	review_comment          TEXT    NOT NULL DEFAULT '',
	lease_owner             TEXT    NOT NULL DEFAULT '', -- '' = queued for the next worker
	lease_expires_at        BIGINT  NOT NULL DEFAULT 0,
	created_at              BIGINT  NOT NULL,
	updated_at              BIGINT  NOT NULL,
	submitted_at            BIGINT  NOT NULL DEFAULT 0,
	started_at              BIGINT  NOT NULL DEFAULT 0,
	finished_at             BIGINT  NOT NULL DEFAULT 0,
	CONSTRAINT change_requests_connector_id_fkey FOREIGN KEY (connector_id) REFERENCES connectors (id) ON DELETE RESTRICT,
	CONSTRAINT change_requests_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id),
	CONSTRAINT change_requests_state_check CHECK (state IN ('draft', 'submitted', 'approved', 'executing',
		'succeeded', 'failed', 'rejected', 'cancelled', 'interrupted'))
);

-- One index per list filter, each ending in id: newest first and the keyset
-- cursor (id < $n) are an index range scan. connector_id also serves the
-- RESTRICT check when a connector is deleted.
CREATE INDEX change_requests_state ON change_requests (state, id);
CREATE INDEX change_requests_connector ON change_requests (connector_id, id);
CREATE INDEX change_requests_created_by ON change_requests (created_by, id);
-- The worker's queue and lease sweep; the store's queries spell the same
-- predicates so that the planner can use these partial indexes.
CREATE INDEX change_requests_executing ON change_requests (lease_owner, id) WHERE state = 'executing';
CREATE INDEX change_requests_needs_review ON change_requests (id) WHERE emergency AND reviewed_by = 0;

CREATE TABLE change_operations (
	id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	change_request_id BIGINT NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	seq               INTEGER NOT NULL, -- 0-based order of execution
	type              TEXT   NOT NULL,
	params            TEXT   NOT NULL, -- JSON, never secret
	plan              TEXT   NOT NULL DEFAULT '',
	status            TEXT   NOT NULL,
	result            TEXT   NOT NULL DEFAULT '', -- JSON or '' before execution
	error             TEXT   NOT NULL DEFAULT '',
	started_at        BIGINT NOT NULL DEFAULT 0,
	finished_at       BIGINT NOT NULL DEFAULT 0,
	CONSTRAINT change_operations_seq_key UNIQUE (change_request_id, seq),
	CONSTRAINT change_operations_status_check CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped'))
);

CREATE TABLE approvals (
	id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	change_request_id BIGINT  NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	user_id           BIGINT  NOT NULL REFERENCES users (id),
	user_email        TEXT    NOT NULL,
	decision          TEXT    NOT NULL,
	comment           TEXT    NOT NULL DEFAULT '',
	revision          BIGINT  NOT NULL,
	void              BOOLEAN NOT NULL DEFAULT FALSE,
	at                BIGINT  NOT NULL,
	CONSTRAINT approvals_decision_check CHECK (decision IN ('approve', 'reject', 'review'))
);

CREATE INDEX approvals_change_request ON approvals (change_request_id, id);

-- A secret waiting to be shown once; erased when shown or expired.
CREATE TABLE reveals (
	id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	change_request_id BIGINT NOT NULL REFERENCES change_requests (id) ON DELETE CASCADE,
	operation_id      BIGINT NOT NULL REFERENCES change_operations (id) ON DELETE CASCADE,
	user_id           BIGINT NOT NULL REFERENCES users (id),
	sealed            BYTEA  NOT NULL,
	expires_at        BIGINT NOT NULL,
	created_at        BIGINT NOT NULL,
	CONSTRAINT reveals_operation_id_key UNIQUE (operation_id)
);

CREATE INDEX reveals_change_request ON reveals (change_request_id, id);
CREATE INDEX reveals_expires_at ON reveals (expires_at);
