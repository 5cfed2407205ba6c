DROP INDEX outbound_requests_created_at;
DROP INDEX idempotency_keys_expires_at;
DROP INDEX event_ids_expires_at;
DROP INDEX run_events_event_id;
DROP INDEX events_received_at;
DROP INDEX runs_finished_at;
