-- Inbound services: keyword rules, opt-outs and the task outbox; messages
-- gain a category (opt-out rules) and interface metadata (Kannel's dlr-url).
ALTER TABLE messages ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN meta TEXT NOT NULL DEFAULT '';   -- JSON object, '' = none
ALTER TABLE inbound ADD COLUMN keyword TEXT NOT NULL DEFAULT '';  -- rule matched at receipt

-- Numbers that sent STOP to a tenant.
CREATE TABLE optouts (
    tenant  TEXT    NOT NULL,
    number  TEXT    NOT NULL,                  -- E.164
    keyword TEXT    NOT NULL,                  -- the word they used
    at      BIGINT  NOT NULL,
    PRIMARY KEY (tenant, number)
);

-- The outbox: actions run at least once (webhooks, replies, callbacks).
-- Done tasks stay (done_at > 0) so their key still deduplicates, until
-- pruned with the events.
CREATE TABLE tasks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    payload     BYTEA   NOT NULL,
    attempts    BIGINT  NOT NULL,
    not_before  BIGINT  NOT NULL,
    lease_until BIGINT  NOT NULL,              -- 0 = not leased
    last_error  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    done_at     BIGINT  NOT NULL               -- 0 = still to run
);

CREATE INDEX tasks_due ON tasks (not_before, id) WHERE done_at = 0;
CREATE INDEX tasks_done ON tasks (done_at) WHERE done_at > 0;
