-- Placeholder on branch invites only: another branch owns migration 0009.
-- DELETE this file when merging (the real 0009 takes its place).
SELECT 1;
