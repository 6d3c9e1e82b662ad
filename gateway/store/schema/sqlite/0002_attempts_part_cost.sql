-- Each part keeps the cost of the route that took it; each message keeps
-- its attempt history (carrier, outcome, time), failures included.
ALTER TABLE parts ADD COLUMN cost REAL NOT NULL DEFAULT 0;

CREATE TABLE attempts (
    message_id TEXT    NOT NULL REFERENCES messages (id),
    carrier    TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,   -- submitted, retry, next_route, permanent
    detail     TEXT    NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX attempts_message ON attempts (message_id, at);
