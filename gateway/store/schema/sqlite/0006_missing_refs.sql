-- Client refs a tenant asked about (Fineract's delivery-report poll) that
-- matched no message: when each was first looked for, so a POST that never
-- reached smsgw is given up on a horizon after the first poll, across
-- restarts. Rows come only from MissingSince and go only through
-- PruneMissing (with the event retention).
CREATE TABLE missing_refs (
    tenant     TEXT    NOT NULL,
    client_ref TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,               -- UTC unix nanoseconds
    PRIMARY KEY (tenant, client_ref)
) WITHOUT ROWID;

CREATE INDEX missing_refs_first_seen ON missing_refs (first_seen);
