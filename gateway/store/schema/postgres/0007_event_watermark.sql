-- How far retention has pruned the event log: the highest seq it deleted.
-- A consumer resuming at or below it has lost events, which StreamEvents
-- answers with OUT_OF_RANGE instead of resuming silently further on. One
-- row, moved only forward, by PruneEvents in the same commit as the delete.
-- The sequence leaves gaps (rolled-back draws), so the oldest event tells
-- nothing of earlier pruning: it starts at 0 and the next prune sets it.
CREATE TABLE event_watermark (pruned_through BIGINT NOT NULL);

INSERT INTO event_watermark (pruned_through) VALUES (0);
