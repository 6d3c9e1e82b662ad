-- Retention prunes the event log by seq (the oldest prefix appended before
-- the cutoff, found by walking the primary key), so the index on the
-- append time is no longer read; dropping it saves its page writes on
-- every commit that appends events.
DROP INDEX events_at;
