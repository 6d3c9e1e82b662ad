-- A final receipt that names only parts already final is kept, in case it
-- overtook the submit_sm_resp of a new part reusing its id (named).
-- Pruning reports the ones no submit claimed within the race as stale.
ALTER TABLE unmatched_receipts ADD COLUMN named BOOLEAN NOT NULL DEFAULT false;
