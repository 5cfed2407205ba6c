-- Authentication (src/store/auth/): API tokens, dashboard operators and their sessions. No secret is stored in the
-- clear: a token keeps the SHA-256 of its secret part, an operator the argon2 PHC string of the password, a session
-- the SHA-256 of its cookie value. Times are milliseconds since the epoch, as in the engine's tables.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE TABLE operators (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE operator_sessions (
    id_sha256 TEXT PRIMARY KEY NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX operator_sessions_expires_at ON operator_sessions (expires_at);
