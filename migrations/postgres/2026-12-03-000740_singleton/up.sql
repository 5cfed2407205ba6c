-- Singleton flow control (issue 14): the key a run holds while it is unfinished. The intake looks for an unfinished
-- run of the function with the same key (src/store/runs/admission.rs, singleton_holder).
ALTER TABLE runs ADD COLUMN singleton_key TEXT;
CREATE INDEX runs_singleton ON runs (function_id, singleton_key) WHERE singleton_key IS NOT NULL;

-- A run not created because its singleton key was held is recorded as `singleton` on its event.
ALTER TABLE run_skips DROP CONSTRAINT run_skips_reason_check;
ALTER TABLE run_skips ADD CONSTRAINT run_skips_reason_check
    CHECK (reason IN ('duplicate_event_id', 'idempotency_key', 'rate_limit', 'debounced', 'batched', 'cancelled',
                      'singleton'));
