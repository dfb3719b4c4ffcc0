-- 0007 is reserved for the signed audit checkpoints of issue #11, developed
-- on another branch; this placeholder keeps the version numbers contiguous
-- until that branch replaces it.
SELECT 1;
