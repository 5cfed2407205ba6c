-- Durable step tools and flow control (see the PostgreSQL tree for the meaning of each column). SQLite cannot
-- alter a CHECK constraint, so runs, steps and run_skips are rebuilt (the documented 12-step procedure).
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE runs_new (
    id TEXT PRIMARY KEY NOT NULL,
    function_id TEXT NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    status TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'sleeping', 'waiting', 'completed', 'failed', 'cancelled')),
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
    updated_at BIGINT NOT NULL,
    parent_run_id TEXT,
    parent_step_key TEXT,
    notify_pending BOOLEAN NOT NULL DEFAULT FALSE,
    concurrency_key TEXT,
    throttle_key TEXT,
    priority BIGINT NOT NULL DEFAULT 0,
    debounce_key TEXT,
    batch_key TEXT,
    batch_size INTEGER NOT NULL DEFAULT 0
);
INSERT INTO runs_new (id, function_id, event_id, status, attempt, run_at, lease_owner, lease_token, idempotency_key,
                      output, error, created_at, started_at, finished_at, updated_at)
    SELECT id, function_id, event_id, status, attempt, run_at, lease_owner, lease_token, idempotency_key,
           output, error, created_at, started_at, finished_at, updated_at FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_function_status_run_at ON runs (function_id, status, run_at);
CREATE INDEX runs_status_run_at ON runs (status, run_at);
CREATE INDEX runs_event_id ON runs (event_id);
CREATE INDEX runs_lease_owner ON runs (lease_owner) WHERE status = 'running';
CREATE INDEX runs_created_at ON runs (created_at);
CREATE INDEX runs_notify_pending ON runs (finished_at) WHERE notify_pending;
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE UNIQUE INDEX runs_one_pending_debounce ON runs (function_id, debounce_key)
    WHERE status = 'queued' AND started_at IS NULL AND debounce_key IS NOT NULL;
CREATE INDEX runs_throttle_started ON runs (function_id, started_at) WHERE throttle_key IS NOT NULL;
CREATE INDEX runs_open_batch ON runs (function_id, batch_key)
    WHERE status = 'queued' AND started_at IS NULL AND batch_key IS NOT NULL;

CREATE TABLE steps_new (
    run_id TEXT NOT NULL REFERENCES runs (id),
    step_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'completed', 'errored', 'failed')),
    output TEXT,
    error TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL,
    retry_at BIGINT,
    kind TEXT NOT NULL DEFAULT 'run',
    wake_at BIGINT,
    PRIMARY KEY (run_id, step_key, attempt)
);
INSERT INTO steps_new (run_id, step_key, attempt, position, name, status, output, error, started_at, finished_at,
                       retry_at)
    SELECT run_id, step_key, attempt, position, name, status, output, error, started_at, finished_at, retry_at
    FROM steps;
DROP TABLE steps;
ALTER TABLE steps_new RENAME TO steps;
CREATE UNIQUE INDEX steps_one_final_attempt ON steps (run_id, step_key) WHERE status IN ('completed', 'failed');

CREATE TABLE run_skips_new (
    event_id TEXT NOT NULL REFERENCES events (id),
    function_id TEXT NOT NULL,
    reason TEXT NOT NULL
        CHECK (reason IN ('duplicate_event_id', 'idempotency_key', 'rate_limit', 'debounced', 'batched', 'cancelled')),
    existing_run_id TEXT,
    PRIMARY KEY (event_id, function_id)
);
INSERT INTO run_skips_new SELECT event_id, function_id, reason, existing_run_id FROM run_skips;
DROP TABLE run_skips;
ALTER TABLE run_skips_new RENAME TO run_skips;

CREATE TABLE waits (
    run_id TEXT NOT NULL REFERENCES runs (id),
    wait_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('event', 'cancel')),
    event_name TEXT NOT NULL,
    expr TEXT,
    trigger_event TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, wait_key)
);
CREATE INDEX waits_event_name ON waits (event_name, expires_at);

CREATE TABLE run_events (
    run_id TEXT NOT NULL REFERENCES runs (id),
    position INTEGER NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    PRIMARY KEY (run_id, position)
);

CREATE TABLE rate_limits (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (function_id, key)
);

CREATE TABLE cron_ticks (
    function_id TEXT NOT NULL,
    schedule TEXT NOT NULL,
    tick_at BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (function_id, schedule, tick_at)
);

COMMIT;
PRAGMA foreign_keys = ON;
