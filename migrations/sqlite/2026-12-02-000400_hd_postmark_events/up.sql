-- Postmark delivery events (postmark-webhook): one row per webhook event Ingot received, whatever its type.
-- run_id is the postmark-webhook run that recorded it, so a step that runs again after a crash records nothing twice.
CREATE TABLE postmark_events (
    id TEXT PRIMARY KEY NOT NULL,
    run_id TEXT NOT NULL UNIQUE,
    record_type TEXT NOT NULL,
    message_id TEXT,
    recipient TEXT,
    payload TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX postmark_events_recipient ON postmark_events (recipient, received_at);
CREATE INDEX postmark_events_message_id ON postmark_events (message_id);
