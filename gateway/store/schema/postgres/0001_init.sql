-- The first schema of the PostgreSQL store: the SQLite schema's tables and
-- meanings (times are UTC unix nanoseconds, 0 meaning "not set"), plus what
-- several nodes sharing the database need: lease owners and a sequence for
-- the event log.

-- One row per accepted outbound message.
CREATE TABLE messages (
    id           TEXT             NOT NULL PRIMARY KEY,  -- UUIDv7
    tenant       TEXT             NOT NULL,
    client_ref   TEXT             NOT NULL,              -- '' = no idempotency key
    sender       TEXT             NOT NULL,
    recipient    TEXT             NOT NULL,
    body         TEXT             NOT NULL,
    encoding     TEXT             NOT NULL,
    priority     INTEGER          NOT NULL,
    not_before   BIGINT           NOT NULL,
    expires_at   BIGINT           NOT NULL,
    status       TEXT             NOT NULL,
    attempts     INTEGER          NOT NULL,
    carrier      TEXT             NOT NULL,
    cost         DOUBLE PRECISION NOT NULL,
    currency     TEXT             NOT NULL,
    last_error   TEXT             NOT NULL,
    created_at   BIGINT           NOT NULL,
    updated_at   BIGINT           NOT NULL,
    part_count   INTEGER          NOT NULL,
    -- next_attempt is 0 until the first Reschedule; due_at only orders
    -- claims: max(not_before, created_at) at accept, the retry time after.
    next_attempt BIGINT           NOT NULL,
    due_at       BIGINT           NOT NULL,
    lease_until  BIGINT           NOT NULL,              -- 0 = not leased
    lease_owner  TEXT             NOT NULL DEFAULT ''    -- node id of the lease holder
);

-- Idempotency: one message per (tenant, client_ref).
CREATE UNIQUE INDEX messages_client_ref ON messages (tenant, client_ref) WHERE client_ref <> '';

-- Claim walks this in order; only messages still to send are in it.
CREATE INDEX messages_due ON messages (priority DESC, due_at, id) WHERE status = 'ACCEPTED';

-- One row per SMS segment.
CREATE TABLE parts (
    message_id   TEXT   NOT NULL REFERENCES messages (id),
    idx          INTEGER NOT NULL,
    carrier      TEXT   NOT NULL,
    carrier_id   TEXT   NOT NULL,                        -- '' until submitted
    status       TEXT   NOT NULL,
    error        TEXT   NOT NULL,
    submitted_at BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (message_id, idx)
);

-- Receipt matching from any node. Not unique: carriers recycle ids (the
-- latest submission wins) and message_payload gives all parts one id.
CREATE INDEX parts_carrier_id ON parts (carrier, carrier_id, submitted_at) WHERE carrier_id <> '';

-- Mobile-originated messages.
CREATE TABLE inbound (
    id          TEXT   NOT NULL PRIMARY KEY,             -- UUIDv7
    tenant      TEXT   NOT NULL,
    carrier     TEXT   NOT NULL,
    carrier_ref TEXT   NOT NULL,                         -- '' = cannot be deduplicated
    sender      TEXT   NOT NULL,
    recipient   TEXT   NOT NULL,
    body        TEXT   NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE UNIQUE INDEX inbound_carrier_ref ON inbound (carrier, carrier_ref) WHERE carrier_ref <> '';

-- The ordered event log. seq comes from events_seq_seq, drawn under a
-- shared advisory lock that readers wait out (see the package doc), so a
-- reader never passes a seq that commits later.
CREATE TABLE events (
    seq        BIGSERIAL NOT NULL PRIMARY KEY,
    kind       TEXT      NOT NULL,
    tenant     TEXT      NOT NULL,
    message_id TEXT      NOT NULL,                       -- '' for inbound events
    status     TEXT      NOT NULL,
    detail     TEXT      NOT NULL,
    at         BIGINT    NOT NULL,
    inbound_id TEXT      REFERENCES inbound (id)         -- NULL for status events
);

CREATE INDEX events_tenant ON events (tenant, seq);

-- Final receipts that arrived before the carrier id they name was recorded.
CREATE TABLE unmatched_receipts (
    id          BIGSERIAL NOT NULL PRIMARY KEY,          -- arrival order
    carrier     TEXT      NOT NULL,
    carrier_id  TEXT      NOT NULL,
    status      TEXT      NOT NULL,
    state       TEXT      NOT NULL,
    error       TEXT      NOT NULL,
    at          BIGINT    NOT NULL,                      -- the carrier's time
    received_at BIGINT    NOT NULL                       -- for pruning strays
);

CREATE INDEX unmatched_receipts_carrier_id ON unmatched_receipts (carrier, carrier_id);
