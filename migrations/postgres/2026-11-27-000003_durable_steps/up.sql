-- Durable step tools and flow control: runs may sleep, wait or be cancelled; steps may wait (sleep,
-- wait_for_event, invoke); runs may have a parent (invoke); waits index what events can resume or cancel a run;
-- cron ticks are claimed once across daemons.

ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('queued', 'running', 'sleeping', 'waiting', 'completed', 'failed', 'cancelled'));
ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
ALTER TABLE runs ADD COLUMN parent_step_key TEXT;
-- The run ended and its system events (inngest/function.*) still have to be emitted: an outbox flag.
ALTER TABLE runs ADD COLUMN notify_pending BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE runs ADD COLUMN concurrency_key TEXT;
ALTER TABLE runs ADD COLUMN throttle_key TEXT;
-- Priority in milliseconds: claimed as if it had been queued this much earlier.
ALTER TABLE runs ADD COLUMN priority BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN debounce_key TEXT;
-- batch_events: the batch key of a run collecting events, and how many it holds (0: not a batch).
ALTER TABLE runs ADD COLUMN batch_key TEXT;
ALTER TABLE runs ADD COLUMN batch_size INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_open_batch ON runs (function_id, batch_key)
    WHERE status = 'queued' AND started_at IS NULL AND batch_key IS NOT NULL;
-- One pending (not yet started) debounced run per function and key.
CREATE UNIQUE INDEX runs_one_pending_debounce ON runs (function_id, debounce_key)
    WHERE status = 'queued' AND started_at IS NULL AND debounce_key IS NOT NULL;
CREATE INDEX runs_throttle_started ON runs (function_id, started_at) WHERE throttle_key IS NOT NULL;
CREATE INDEX runs_notify_pending ON runs (finished_at) WHERE notify_pending;
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

ALTER TABLE steps DROP CONSTRAINT steps_status_check;
ALTER TABLE steps ADD CONSTRAINT steps_status_check CHECK (status IN ('waiting', 'completed', 'errored', 'failed'));
-- What the step is: run, sleep, wait_for_event, invoke, send_event.
ALTER TABLE steps ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
-- For a waiting step: when it resumes (the sleep's end, the wait's or invoke's timeout).
ALTER TABLE steps ADD COLUMN wake_at BIGINT;

ALTER TABLE run_skips DROP CONSTRAINT run_skips_reason_check;
ALTER TABLE run_skips ADD CONSTRAINT run_skips_reason_check
    CHECK (reason IN ('duplicate_event_id', 'idempotency_key', 'rate_limit', 'debounced', 'batched', 'cancelled'));

-- Runs waiting for an event: a wait_for_event step (`step_key`) or a cancel_on rule (`cancel:<n>`).
CREATE TABLE waits (
    run_id TEXT NOT NULL REFERENCES runs (id),
    wait_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('event', 'cancel')),
    event_name TEXT NOT NULL,
    expr TEXT,
    -- The run's trigger event (CEL's `event`), so matching needs no join.
    trigger_event TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, wait_key)
);
CREATE INDEX waits_event_name ON waits (event_name, expires_at);

-- The events of a batched run, in arrival order (the run's own event_id is the first).
CREATE TABLE run_events (
    run_id TEXT NOT NULL REFERENCES runs (id),
    position INTEGER NOT NULL,
    event_id TEXT NOT NULL REFERENCES events (id),
    PRIMARY KEY (run_id, position)
);

-- Rate-limit windows: a window starts at the first event and counts the runs it admitted.
CREATE TABLE rate_limits (
    function_id TEXT NOT NULL,
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (function_id, key)
);

-- One row per cron tick that fired: the unique key makes a tick fire once across daemons.
CREATE TABLE cron_ticks (
    function_id TEXT NOT NULL,
    schedule TEXT NOT NULL,
    tick_at BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (function_id, schedule, tick_at)
);
