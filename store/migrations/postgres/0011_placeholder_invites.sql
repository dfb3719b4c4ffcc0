-- Placeholder on branch invites only: another branch owns migration 0011.
-- DELETE this file when merging (the real 0011 takes its place).
SELECT 1;
