CREATE INDEX runs_function_status_run_at ON runs (function_id, status, run_at);
DROP INDEX runs_function_status_run_at_id;
