-- Service tokens: platform services (mail, push, audiences, the automation engine) use
-- one for the internal paths (system events, waits). Only the SHA-256 is stored; no project
-- key can stand in for one.
CREATE TABLE service_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    CONSTRAINT service_tokens_token_hash_key UNIQUE (token_hash)
);
