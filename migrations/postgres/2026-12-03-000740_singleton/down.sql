DELETE FROM run_skips WHERE reason = 'singleton';
ALTER TABLE run_skips DROP CONSTRAINT run_skips_reason_check;
ALTER TABLE run_skips ADD CONSTRAINT run_skips_reason_check
    CHECK (reason IN ('duplicate_event_id', 'idempotency_key', 'rate_limit', 'debounced', 'batched', 'cancelled'));

DROP INDEX runs_singleton;
ALTER TABLE runs DROP COLUMN singleton_key;
