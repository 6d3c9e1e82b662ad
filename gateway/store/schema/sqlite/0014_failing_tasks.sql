-- ListFailingTasks reads the tasks whose last run failed, the latest
-- first, without scanning the done ones that succeeded.
CREATE INDEX tasks_failing ON tasks (id) WHERE last_error <> '';
