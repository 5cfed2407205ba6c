-- Dry runs (INGOT_DRY_RUN=1): every request the daemon would have sent to an external service, instead of
-- sending it. Headers are stored redacted; secrets in query strings are redacted too.
CREATE TABLE outbound_requests (
    id TEXT PRIMARY KEY NOT NULL,
    service TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbound_requests_service_created_at ON outbound_requests (service, created_at);
