-- 0003: the inventory a connector's sync sees (assets), hygiene findings on
-- them, drift (changes made outside Nexplane) and per-connector sync state.
-- Times are unix milliseconds; a time that has not happened (gone_at of a
-- present asset, resolved_at of an open finding, …) is 0. JSON columns are
-- TEXT holding exactly the bytes the application gave.

CREATE TABLE assets (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	connector_id INTEGER NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
	kind         TEXT    NOT NULL,
	external_id  TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	attributes   TEXT    NOT NULL, -- JSON, never secret
	-- lower(name) || char(10) || lower(external_id), written by the store
	-- (Unicode lower-casing, which SQLite's lower() lacks) for text search.
	search       TEXT    NOT NULL,
	first_seen   INTEGER NOT NULL,
	last_seen    INTEGER NOT NULL,
	gone_at      INTEGER NOT NULL DEFAULT 0, -- 0 while the target has it
	UNIQUE (connector_id, kind, external_id)
) STRICT;

-- ListAssets is newest first with a keyset cursor (id < ?): one index per
-- filter, each ending in id. Present assets (gone_at = 0, the default view)
-- have partial indexes of their own, since gone ones pile up (rotated keys);
-- the store's queries spell the same predicate so that the planner uses them.
CREATE INDEX assets_connector ON assets (connector_id, id);
CREATE INDEX assets_kind ON assets (kind, id);
CREATE INDEX assets_present ON assets (id) WHERE gone_at = 0;
CREATE INDEX assets_present_connector ON assets (connector_id, id) WHERE gone_at = 0;
CREATE INDEX assets_present_kind ON assets (kind, id) WHERE gone_at = 0;

CREATE TABLE findings (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	asset_id      INTEGER NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
	connector_id  INTEGER NOT NULL, -- the asset's, copied by the store
	rule          TEXT    NOT NULL,
	severity      TEXT    NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
	message       TEXT    NOT NULL,
	remedy_type   TEXT    NOT NULL DEFAULT '',
	remedy_params TEXT    NOT NULL DEFAULT '', -- JSON or ''
	first_seen    INTEGER NOT NULL,
	last_seen     INTEGER NOT NULL,
	resolved_at   INTEGER NOT NULL DEFAULT 0 -- 0 while open
) STRICT;

-- At most one open finding per (asset, rule); it also serves the upsert and
-- ListAssets' finding filter.
CREATE UNIQUE INDEX findings_open ON findings (asset_id, rule) WHERE resolved_at = 0;
CREATE INDEX findings_open_rule ON findings (rule, asset_id) WHERE resolved_at = 0;
CREATE INDEX findings_asset ON findings (asset_id, id);
CREATE INDEX findings_connector ON findings (connector_id, resolved_at);

CREATE TABLE drift (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	connector_id    INTEGER NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
	-- No foreign key: the record of a vanished asset outlives it.
	asset_id        INTEGER NOT NULL DEFAULT 0,
	kind            TEXT    NOT NULL,
	external_id     TEXT    NOT NULL,
	name            TEXT    NOT NULL,
	change          TEXT    NOT NULL CHECK (change IN ('appeared', 'changed', 'disappeared')),
	before          TEXT    NOT NULL, -- JSON attributes; 'null' when it appeared
	after           TEXT    NOT NULL, -- JSON attributes; 'null' when it disappeared
	detected_at     INTEGER NOT NULL,
	acknowledged_by INTEGER NOT NULL DEFAULT 0, -- user id; 0 while open
	acknowledged_at INTEGER NOT NULL DEFAULT 0,
	ack_comment     TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX drift_connector ON drift (connector_id, id);
CREATE INDEX drift_open ON drift (id) WHERE acknowledged_by = 0;
CREATE INDEX drift_open_connector ON drift (connector_id, id) WHERE acknowledged_by = 0;

CREATE TABLE sync_state (
	connector_id  INTEGER PRIMARY KEY REFERENCES connectors (id) ON DELETE CASCADE,
	last_started  INTEGER NOT NULL DEFAULT 0,
	last_finished INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT    NOT NULL DEFAULT '',
	assets        INTEGER NOT NULL DEFAULT 0, -- present assets after the last successful sync
	next_due      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Text search: a substring anywhere in name or external id. A LIKE/instr
-- walk over 100,000 assets takes ~70 ms in modernc's SQLite when the term
-- is rare, so SQLite keeps a trigram index of assets.search (external
-- content: the text lives only in assets). The store uses it for terms of
-- three or more characters; shorter terms match so many assets that the
-- walk in id order fills a page early. The triggers keep it in step with
-- assets, foreign key cascades included.
CREATE VIRTUAL TABLE assets_search USING fts5 (search, content = 'assets', content_rowid = 'id', tokenize = 'trigram');

CREATE TRIGGER assets_search_insert AFTER INSERT ON assets BEGIN
	INSERT INTO assets_search (rowid, search) VALUES (new.id, new.search);
END;

CREATE TRIGGER assets_search_delete AFTER DELETE ON assets BEGIN
	INSERT INTO assets_search (assets_search, rowid, search) VALUES ('delete', old.id, old.search);
END;

CREATE TRIGGER assets_search_update AFTER UPDATE OF search ON assets WHEN old.search <> new.search BEGIN
	INSERT INTO assets_search (assets_search, rowid, search) VALUES ('delete', old.id, old.search);
	INSERT INTO assets_search (rowid, search) VALUES (new.id, new.search);
END;
