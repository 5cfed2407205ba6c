DROP TABLE run_skips;
DROP TABLE idempotency_keys;
DROP TABLE steps;
DROP TABLE runs;
DROP TABLE event_ids;
DROP TABLE events;
DROP TABLE nodes;
