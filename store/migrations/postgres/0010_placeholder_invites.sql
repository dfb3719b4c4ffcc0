-- Placeholder on branch invites only: another branch owns migration 0010.
-- DELETE this file when merging (the real 0010 takes its place).
SELECT 1;
