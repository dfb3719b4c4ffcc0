-- 0009: reserved for another branch's migration (the account/sessions work).
-- This placeholder only keeps the numbering gap-free on the tokens branch;
-- when merging, drop this file in favour of the real 0009.
SELECT 1;
