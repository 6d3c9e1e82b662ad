-- How far retention has pruned the event log: the highest seq it deleted.
-- A consumer resuming at or below it has lost events, which StreamEvents
-- answers with OUT_OF_RANGE instead of resuming silently further on. One
-- row, moved only forward, by PruneEvents in the same commit as the delete.
-- AUTOINCREMENT leaves no gaps but deleted rows, so a database pruned
-- before this migration starts at the seq before its oldest event, or at
-- the last seq drawn when every event is gone.
CREATE TABLE event_watermark (pruned_through INTEGER NOT NULL);

INSERT INTO event_watermark (pruned_through) VALUES (COALESCE(
    (SELECT MIN(seq) - 1 FROM events),
    (SELECT seq FROM sqlite_sequence WHERE name = 'events'),
    0));
