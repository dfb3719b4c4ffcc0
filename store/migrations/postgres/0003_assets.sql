-- 0003: the inventory a connector's sync sees (assets), hygiene findings on
-- them, drift (changes made outside Nexplane) and per-connector sync state.
-- Times are unix milliseconds; a time that has not happened (gone_at of a
-- present asset, resolved_at of an open finding, …) is 0. JSON columns are
-- TEXT holding exactly the bytes the application gave.
-- Constraints are named so that the store can turn violations into safe messages.

CREATE TABLE assets (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	connector_id BIGINT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
	kind         TEXT   NOT NULL,
	external_id  TEXT   NOT NULL,
	name         TEXT   NOT NULL,
	attributes   TEXT   NOT NULL, -- JSON, never secret
	-- lower(name) || E'\n' || lower(external_id), written by the store (the
	-- same Unicode lower-casing in both dialects) for text search.
	search       TEXT   NOT NULL,
	first_seen   BIGINT NOT NULL,
	last_seen    BIGINT NOT NULL,
	gone_at      BIGINT NOT NULL DEFAULT 0, -- 0 while the target has it
	CONSTRAINT assets_external_id_key UNIQUE (connector_id, kind, external_id)
);

-- ListAssets is newest first with a keyset cursor (id < $n): one index per
-- filter, each ending in id. Present assets (gone_at = 0, the default view)
-- have partial indexes of their own, since gone ones pile up (rotated keys);
-- the store's queries spell the same predicate so that the planner uses them.
CREATE INDEX assets_connector ON assets (connector_id, id);
CREATE INDEX assets_kind ON assets (kind, id);
CREATE INDEX assets_present ON assets (id) WHERE gone_at = 0;
CREATE INDEX assets_present_connector ON assets (connector_id, id) WHERE gone_at = 0;
CREATE INDEX assets_present_kind ON assets (kind, id) WHERE gone_at = 0;

CREATE TABLE findings (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	asset_id      BIGINT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
	connector_id  BIGINT NOT NULL, -- the asset's, copied by the store
	rule          TEXT   NOT NULL,
	severity      TEXT   NOT NULL,
	message       TEXT   NOT NULL,
	remedy_type   TEXT   NOT NULL DEFAULT '',
	remedy_params TEXT   NOT NULL DEFAULT '', -- JSON or ''
	first_seen    BIGINT NOT NULL,
	last_seen     BIGINT NOT NULL,
	resolved_at   BIGINT NOT NULL DEFAULT 0, -- 0 while open
	CONSTRAINT findings_severity_check CHECK (severity IN ('high', 'medium', 'low'))
);

-- At most one open finding per (asset, rule); it also serves the upsert and
-- ListAssets' finding filter.
CREATE UNIQUE INDEX findings_open ON findings (asset_id, rule) WHERE resolved_at = 0;
CREATE INDEX findings_open_rule ON findings (rule, asset_id) WHERE resolved_at = 0;
CREATE INDEX findings_asset ON findings (asset_id, id);
CREATE INDEX findings_connector ON findings (connector_id, resolved_at);

CREATE TABLE drift (
	id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	connector_id    BIGINT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
	-- No foreign key: the record of a vanished asset outlives it.
	asset_id        BIGINT NOT NULL DEFAULT 0,
	kind            TEXT   NOT NULL,
	external_id     TEXT   NOT NULL,
	name            TEXT   NOT NULL,
	change          TEXT   NOT NULL,
	before          TEXT   NOT NULL, -- JSON attributes; 'null' when it appeared
	after           TEXT   NOT NULL, -- JSON attributes; 'null' when it disappeared
	detected_at     BIGINT NOT NULL,
	acknowledged_by BIGINT NOT NULL DEFAULT 0, -- user id; 0 while open
	acknowledged_at BIGINT NOT NULL DEFAULT 0,
	ack_comment     TEXT   NOT NULL DEFAULT '',
	CONSTRAINT drift_change_check CHECK (change IN ('appeared', 'changed', 'disappeared'))
);

CREATE INDEX drift_connector ON drift (connector_id, id);
CREATE INDEX drift_open ON drift (id) WHERE acknowledged_by = 0;
CREATE INDEX drift_open_connector ON drift (connector_id, id) WHERE acknowledged_by = 0;

CREATE TABLE sync_state (
	connector_id  BIGINT PRIMARY KEY REFERENCES connectors (id) ON DELETE CASCADE,
	last_started  BIGINT  NOT NULL DEFAULT 0,
	last_finished BIGINT  NOT NULL DEFAULT 0,
	last_error    TEXT    NOT NULL DEFAULT '',
	assets        INTEGER NOT NULL DEFAULT 0, -- present assets after the last successful sync
	next_due      BIGINT  NOT NULL DEFAULT 0
);

-- Text search: a LIKE '%term%' over assets.search walks every present
-- asset when the term is rare (~40 ms over 100,000). A pg_trgm GIN index
-- answers it from the term's trigrams. pg_trgm is a trusted extension
-- (PostgreSQL 13+: a database owner may create it); where it cannot be
-- created the migration goes on without the index and search scans. The
-- index names the operator class by the extension's schema, wherever an
-- administrator put it.
DO $$
DECLARE
	ext_schema TEXT;
BEGIN
	BEGIN
		CREATE EXTENSION IF NOT EXISTS pg_trgm;
	EXCEPTION WHEN OTHERS THEN
		RAISE NOTICE 'pg_trgm unavailable (%); asset search will scan', SQLERRM;
	END;
	SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
	WHERE e.extname = 'pg_trgm';
	IF ext_schema IS NOT NULL THEN
		EXECUTE format('CREATE INDEX assets_search_trgm ON assets USING gin (search %I.gin_trgm_ops)', ext_schema);
	END IF;
END $$;
