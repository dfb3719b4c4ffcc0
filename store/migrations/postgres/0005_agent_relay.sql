-- 0005: host operations across servers sharing one database. agents.server
-- names the server process whose listener holds the agent's long-poll; a
-- host operation executed on another server reaches it through agent_relay.
-- Times are unix milliseconds.

ALTER TABLE agents ADD COLUMN server TEXT NOT NULL DEFAULT '';

CREATE TABLE agent_relay (
	work_id    TEXT   NOT NULL,
	agent_id   TEXT   NOT NULL,
	server     TEXT   NOT NULL, -- the server to deliver it (it holds the agent's poll)
	work       TEXT   NOT NULL, -- ops.Work JSON; host operation parameters are never secret
	state      TEXT   NOT NULL,
	result     TEXT   NOT NULL DEFAULT '', -- ops.Result JSON, once done with the agent's answer
	error      TEXT   NOT NULL DEFAULT '', -- why the delivering server gave up, once done without one
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	CONSTRAINT agent_relay_pkey PRIMARY KEY (work_id),
	CONSTRAINT agent_relay_state_check CHECK (state IN ('queued', 'taken', 'done', 'cancelled'))
);

CREATE INDEX agent_relay_server ON agent_relay (server, state);
