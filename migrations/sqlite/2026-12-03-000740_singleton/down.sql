DELETE FROM run_skips WHERE reason = 'singleton';
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

DROP INDEX runs_singleton;
ALTER TABLE runs DROP COLUMN singleton_key;
