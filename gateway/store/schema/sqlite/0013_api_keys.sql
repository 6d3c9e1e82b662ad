-- Tenants' API keys made through the console, beside the config's. Only
-- the key's SHA-256 (hex) and its first characters are kept: the store
-- cannot give a key back. A revoked key keeps its row (who made it, who
-- revoked it, when), so the console's list and the audit trail agree.
CREATE TABLE api_keys (
    prefix     TEXT    PRIMARY KEY,             -- the key's first characters, shown
    tenant     TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    hash       TEXT    NOT NULL UNIQUE,         -- hex SHA-256 of the whole key
    created_at INTEGER NOT NULL,                -- UTC unix nanoseconds
    created_by TEXT    NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0,      -- 0 while the key works
    revoked_by TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX api_keys_tenant ON api_keys (tenant, created_at);
