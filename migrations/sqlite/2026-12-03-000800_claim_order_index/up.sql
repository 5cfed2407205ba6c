-- The claim reads each status group of a function in claim order (`ORDER BY run_at, id LIMIT n`): with `id` in the
-- index the order is the index's, so a claim reads n entries however long the queue — without it a planner with
-- no statistics yet (a new database) scanned and sorted every queued run on each claim (issue 14).
CREATE INDEX runs_function_status_run_at_id ON runs (function_id, status, run_at, id);
DROP INDEX runs_function_status_run_at;
