-- 0014: one-time reveal pages. A console POST that makes a secret (an API
-- token, an enrollment token, recovery codes, an operation's secret) never
-- answers with it: it seals it here and redirects to /reveal/{id}, which
-- shows it once. id is the hex SHA-256 of the random id in that address;
-- the row is bound to the user and the console session that made it (the
-- session's end erases it), and lives minutes.
CREATE TABLE reveal_pages (
	id          TEXT    PRIMARY KEY, -- hex SHA-256 of the id in the address
	user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	sealed      BYTEA   NOT NULL, -- the page's content, sealed (app/vault)
	created_at  BIGINT  NOT NULL,
	expires_at  BIGINT  NOT NULL
);

CREATE INDEX reveal_pages_expires_at ON reveal_pages (expires_at);
CREATE INDEX reveal_pages_session_id ON reveal_pages (session_id);
CREATE INDEX reveal_pages_user_id ON reveal_pages (user_id);
