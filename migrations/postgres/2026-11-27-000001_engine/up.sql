-- Engine tables: events in, runs and their step attempts, node leases, dedupe and idempotency windows.
-- All engine timestamps are milliseconds since the Unix epoch (UTC) in BIGINT columns.

CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    external_id TEXT,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    user_data TEXT NOT NULL,
    ts BIGINT NOT NULL,
    v TEXT,
    received_at BIGINT NOT NULL,
    duplicate BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX events_name_received_at ON events (name, received_at);
CREATE INDEX events_external_id ON events (external_id);

CREATE TABLE event_ids (
    external_id TEXT PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE runs (
    id TEXT PRIMARY KEY NOT NULL,
    function_id TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    attempt INTEGER NOT NULL DEFAULT 0,
    run_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_token BIGINT NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    output TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX runs_function_status_run_at ON runs (function_id, status, run_at);
CREATE INDEX runs_status_run_at ON runs (status, run_at);
CREATE INDEX runs_event_id ON runs (event_id);
CREATE INDEX runs_lease_owner ON runs (lease_owner) WHERE status = 'running';
CREATE INDEX runs_created_at ON runs (created_at);

CREATE TABLE steps (
    run_id TEXT NOT NULL REFERENCES runs (id),
    step_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    -- The order in which the handler reached this step (0, 1, 2, ...): how the API lists a run's steps.
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'errored', 'failed')),
    output TEXT,
    error TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    retry_at BIGINT,
    PRIMARY KEY (run_id, step_key, attempt)
);
-- At most one final attempt per step: a completed step can never be completed (or run) again.
CREATE UNIQUE INDEX steps_one_final_attempt ON steps (run_id, step_key) WHERE status IN ('completed', 'failed');

CREATE TABLE idempotency_keys (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (function_id, key)
);

-- Functions an event matched but did not start, and why (for the event's view in the API).
CREATE TABLE run_skips (
    event_id TEXT NOT NULL REFERENCES events (id),
    function_id TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('duplicate_event_id', 'idempotency_key')),
    existing_run_id TEXT,
    PRIMARY KEY (event_id, function_id)
);
