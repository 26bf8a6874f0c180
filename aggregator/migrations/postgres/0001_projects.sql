-- Projects and their API keys. Times are Unix milliseconds (BIGINT on both backends).
CREATE TABLE projects (
    id                          TEXT PRIMARY KEY NOT NULL,
    name                        TEXT NOT NULL,
    event_payload_limit_bytes   BIGINT NOT NULL,
    rate_limit_per_sec          BIGINT NOT NULL,
    rate_limit_burst            BIGINT NOT NULL,
    retention_secs              BIGINT NOT NULL,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);

-- Only the SHA-256 of a key is stored; `prefix` identifies it to humans.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    key_hash    TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_project ON api_keys (project_id);
