-- Client refs that matched no message: those a tenant asked about
-- (Fineract's delivery-report poll) with an empty reason, and those an
-- interface refused when they were posted, with the reason. first_seen is
-- when each was first noted, so a POST that never reached smsgw is given
-- up on a horizon after the first poll, across
-- restarts. Rows come only from NoteMissing and go only through
-- PruneMissing (with the event retention).
CREATE TABLE missing_refs (
    tenant     TEXT    NOT NULL,
    client_ref TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,               -- UTC unix nanoseconds
    reason     TEXT    NOT NULL DEFAULT '',    -- why it was refused; '' when never received
    PRIMARY KEY (tenant, client_ref)
) WITHOUT ROWID;

CREATE INDEX missing_refs_first_seen ON missing_refs (first_seen);
