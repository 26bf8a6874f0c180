-- wait_for_event: an automation step waiting until a contact sends an event (docs/waits.md).
-- `id` is the client's; `identity_*` the identifier it was registered with, resolved to a
-- contact when matching (so an identifier linked later still matches). The status moves
-- once, from `waiting` to `received`, `timed_out` or `cancelled`, by a conditional update.
CREATE TABLE waits (
    id                 TEXT PRIMARY KEY NOT NULL,
    project_id         TEXT NOT NULL REFERENCES projects (id),
    event              TEXT NOT NULL,
    identity_type      TEXT NOT NULL,
    identity_value     TEXT NOT NULL,
    match_json         TEXT NOT NULL,
    after_at           BIGINT NOT NULL,
    timeout_at         BIGINT NOT NULL,
    metadata           TEXT NOT NULL,
    request_hash       TEXT NOT NULL,
    status             TEXT NOT NULL,
    resumed_at         BIGINT,
    timed_out_at       BIGINT,
    cancelled_at       BIGINT,
    event_id           TEXT,
    event_occurred_at  BIGINT,
    created_at         BIGINT NOT NULL
);
-- Open waits only: matching looks them up by (project, event, identifier), timeouts by
-- due time.
CREATE INDEX waits_open ON waits (project_id, event, identity_value) WHERE status = 'waiting';
CREATE INDEX waits_due ON waits (timeout_at) WHERE status = 'waiting';
CREATE INDEX waits_created ON waits (project_id, created_at);

-- Events stored but not checked against open waits yet: one row per stored batch (16-byte
-- ids concatenated), written with the batch, deleted with the matches it led to.
CREATE TABLE wait_queue (
    id          INTEGER PRIMARY KEY,
    event_ids   BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);
