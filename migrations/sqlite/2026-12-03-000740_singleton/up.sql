-- Singleton flow control (issue 14): the key a run holds while it is unfinished. The intake looks for an unfinished
-- run of the function with the same key (src/store/runs/admission.rs, singleton_holder).
ALTER TABLE runs ADD COLUMN singleton_key TEXT;
CREATE INDEX runs_singleton ON runs (function_id, singleton_key) WHERE singleton_key IS NOT NULL;

-- A run not created because its singleton key was held is recorded as `singleton` on its event.
CREATE TABLE run_skips_new (
    event_id TEXT NOT NULL REFERENCES events (id),
    function_id TEXT NOT NULL,
    reason TEXT NOT NULL
        CHECK (reason IN ('duplicate_event_id', 'idempotency_key', 'rate_limit', 'debounced', 'batched', 'cancelled',
                          'singleton')),
    existing_run_id TEXT,
    PRIMARY KEY (event_id, function_id)
);
INSERT INTO run_skips_new SELECT event_id, function_id, reason, existing_run_id FROM run_skips;
DROP TABLE run_skips;
ALTER TABLE run_skips_new RENAME TO run_skips;
