-- Operator actions (src/store/actions/): reruns link to the run they repeat, paused functions, and the audit.
ALTER TABLE runs ADD COLUMN rerun_of TEXT;

-- A paused function's runs are not claimed (they wait, queued, sleeping or waiting) until it is resumed.
CREATE TABLE function_pauses (
    function_id TEXT PRIMARY KEY NOT NULL,
    paused_at BIGINT NOT NULL,
    paused_by TEXT NOT NULL
);

-- Every operator action: who, when, what, on which function or run, with which parameters, and what it did.
CREATE TABLE actions (
    id TEXT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    function_id TEXT,
    run_id TEXT,
    params TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX actions_at ON actions (at);

-- The runs an action touched (a bulk cancel touches many; a rerun its original and the new run).
CREATE TABLE action_runs (
    action_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (action_id, run_id)
);
CREATE INDEX action_runs_run_id ON action_runs (run_id);
