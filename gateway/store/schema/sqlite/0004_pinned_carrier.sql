-- A reply to an inbound message leaves through the carrier it came in on.
ALTER TABLE messages ADD COLUMN pinned_carrier TEXT NOT NULL DEFAULT '';
