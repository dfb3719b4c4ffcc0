-- 0009: why execution last stopped before it finished. interrupt_cause is
-- the real cause in words (server shut down, worker lost its lease, database
-- error, an outcome reconciliation could not tell), shown to people;
-- requeues counts the times a worker stopped without a graceful hand-back,
-- so a request that keeps killing its worker stops for a person instead of
-- looping.
ALTER TABLE change_requests ADD COLUMN interrupt_cause TEXT NOT NULL DEFAULT '';
ALTER TABLE change_requests ADD COLUMN requeues INTEGER NOT NULL DEFAULT 0;
