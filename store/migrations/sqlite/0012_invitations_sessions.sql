-- 0012: one-time password links (invitations, admin resets) and where
-- console sessions come from.

-- Console sessions remember the client address and user agent of their
-- login, so a user can tell their sessions apart on /account.
ALTER TABLE sessions ADD COLUMN client_addr TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent  TEXT NOT NULL DEFAULT '';

-- A password link lets its holder set a user's password once: an
-- invitation (a new user has no password yet) or a reset an admin asked
-- for. Only the SHA-256 of the random token is kept. reveal holds the
-- token sealed for the admin's one-time console reveal and is emptied when
-- shown; using the link deletes the row.
CREATE TABLE password_links (
	id          TEXT    PRIMARY KEY, -- hex SHA-256 of the token
	user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	purpose     TEXT    NOT NULL CHECK (purpose IN ('invite', 'reset')),
	created_by  TEXT    NOT NULL, -- id of the admin who made it ('' for system actors)
	reveal      BLOB    NOT NULL, -- sealed token for the one-time reveal; empty once shown
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX password_links_user_id ON password_links (user_id);
