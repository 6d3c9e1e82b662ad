-- The first schema of the embedded store. Times are UTC unix nanoseconds,
-- 0 meaning "not set". Status values are gateway.Status strings.

-- One row per accepted outbound message.
CREATE TABLE messages (
    id           TEXT    NOT NULL PRIMARY KEY,  -- UUIDv7
    tenant       TEXT    NOT NULL,
    client_ref   TEXT    NOT NULL,              -- '' = no idempotency key
    sender       TEXT    NOT NULL,
    recipient    TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    encoding     TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    not_before   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    carrier      TEXT    NOT NULL,
    cost         REAL    NOT NULL,
    currency     TEXT    NOT NULL,
    last_error   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    part_count   INTEGER NOT NULL,
    -- next_attempt is 0 until the first Reschedule, so a message is due on
    -- the caller's clock as soon as not_before has passed. due_at only orders
    -- claims: max(not_before, created_at) at accept, the retry time after.
    next_attempt INTEGER NOT NULL,
    due_at       INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL               -- 0 = not leased
);

-- Idempotency: one message per (tenant, client_ref).
CREATE UNIQUE INDEX messages_client_ref ON messages (tenant, client_ref) WHERE client_ref <> '';

-- Claim walks this in order; only messages still to send are in it.
CREATE INDEX messages_due ON messages (priority DESC, due_at, id) WHERE status = 'ACCEPTED';

-- One row per SMS segment.
CREATE TABLE parts (
    message_id   TEXT    NOT NULL REFERENCES messages (id),
    idx          INTEGER NOT NULL,
    carrier      TEXT    NOT NULL,
    carrier_id   TEXT    NOT NULL,              -- '' until submitted
    status       TEXT    NOT NULL,
    error        TEXT    NOT NULL,
    submitted_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (message_id, idx)
) WITHOUT ROWID;

-- Receipt matching. Not unique: carriers recycle ids, the latest submission wins.
CREATE INDEX parts_carrier_id ON parts (carrier, carrier_id, submitted_at) WHERE carrier_id <> '';

-- Mobile-originated messages.
CREATE TABLE inbound (
    id          TEXT    NOT NULL PRIMARY KEY,   -- UUIDv7
    tenant      TEXT    NOT NULL,
    carrier     TEXT    NOT NULL,
    carrier_ref TEXT    NOT NULL,               -- '' = cannot be deduplicated
    sender      TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    received_at INTEGER NOT NULL
);

CREATE UNIQUE INDEX inbound_carrier_ref ON inbound (carrier, carrier_ref) WHERE carrier_ref <> '';

-- The ordered event log. AUTOINCREMENT: a seq is never reused, even after
-- the newest rows are deleted.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    message_id TEXT    NOT NULL,                -- '' for inbound events
    status     TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    inbound_id TEXT    REFERENCES inbound (id)  -- NULL for status events
);

CREATE INDEX events_tenant ON events (tenant, seq);

-- Final receipts that arrived before the carrier id they name was recorded.
CREATE TABLE unmatched_receipts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT, -- arrival order
    carrier     TEXT    NOT NULL,
    carrier_id  TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    at          INTEGER NOT NULL,                  -- the carrier's time
    received_at INTEGER NOT NULL                   -- for pruning strays
);

CREATE INDEX unmatched_receipts_carrier_id ON unmatched_receipts (carrier, carrier_id);
