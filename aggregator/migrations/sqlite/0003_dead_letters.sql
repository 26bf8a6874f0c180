-- Dead letters: events that could not be processed, with why, and whether they were
-- replayed. One row per original stream message (stream, stream_seq), so an advisory
-- seen twice makes one record.
CREATE TABLE dead_letters (
    id                TEXT PRIMARY KEY NOT NULL,
    stream            TEXT NOT NULL,
    stream_seq        BIGINT NOT NULL,
    project_id        TEXT NOT NULL,
    subject           TEXT NOT NULL,
    msg_id            TEXT,
    headers           TEXT NOT NULL,
    payload           TEXT,
    payload_base64    BOOLEAN NOT NULL,
    original_missing  BOOLEAN NOT NULL,
    reason            TEXT NOT NULL,
    error             TEXT NOT NULL,
    deliveries        BIGINT NOT NULL,
    first_failed_at   BIGINT NOT NULL,
    last_failed_at    BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    replayed_at       BIGINT,
    replay_count      BIGINT NOT NULL,
    CONSTRAINT dead_letters_stream_seq_key UNIQUE (stream, stream_seq)
);
CREATE INDEX dead_letters_project ON dead_letters (project_id, created_at);
