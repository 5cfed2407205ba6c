-- Retention (src/store/retention.rs): the pruner finds old rows by these columns, in bounded batches.
CREATE INDEX runs_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX events_received_at ON events (received_at);
CREATE INDEX run_events_event_id ON run_events (event_id);
CREATE INDEX event_ids_expires_at ON event_ids (expires_at);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
CREATE INDEX outbound_requests_created_at ON outbound_requests (created_at);
