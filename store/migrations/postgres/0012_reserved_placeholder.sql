-- 0012: PLACEHOLDER on the passkeys branch only. This number belongs to
-- another branch; migrations must be numbered without gaps, so this no-op
-- stands in for it until the branches are merged. DELETE THIS FILE when merging.
SELECT 1;
