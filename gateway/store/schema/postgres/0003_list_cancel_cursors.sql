-- List pages a tenant's messages newest first: ids are UUIDv7, so
-- (tenant, id) serves both the tenant filter and the order.
CREATE INDEX messages_tenant_id ON messages (tenant, id);

-- Server-side positions of event consumers, per tenant and cursor name.
-- seq only moves forward (AckEvents).
CREATE TABLE event_cursors (
    tenant     TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);

-- PruneEvents deletes by append time.
CREATE INDEX events_at ON events (at);
