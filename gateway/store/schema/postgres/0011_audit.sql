-- The audit trail of what people did through the operator interfaces (the
-- web console): who, from where, what, to what, when, and the outcome.
-- Appended by RecordAudit only; never pruned by event retention (an audit
-- trail outlives it), small (one row per human action).
CREATE TABLE audit (
    id       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       BIGINT  NOT NULL,                 -- UTC unix nanoseconds
    username TEXT    NOT NULL,
    role     TEXT    NOT NULL,
    tenant   TEXT    NOT NULL,                 -- the user's tenant limit; '' for none
    source   TEXT    NOT NULL,                 -- the client's address
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,                 -- numbers masked
    outcome  TEXT    NOT NULL
);

CREATE INDEX audit_tenant ON audit (tenant, id);

-- ListOptOuts reads a tenant's list, the latest change first.
CREATE INDEX optouts_tenant_at ON optouts (tenant, at);
