-- The event catalog: one row per (project, event name, source). The columns are what the
-- lists filter and sort on; `body` holds the rest as JSON (schema hints, drift records,
-- redacted examples, PII flags and owner decisions; see docs/catalog.md). No payload value
-- is ever stored here: examples are redacted before they are written.
CREATE TABLE catalog_entries (
    project_id     TEXT NOT NULL REFERENCES projects (id),
    event          TEXT NOT NULL,
    source         TEXT NOT NULL,
    first_seen_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    count          BIGINT NOT NULL,
    pii_likely     BOOLEAN NOT NULL,
    drift_count    BIGINT NOT NULL,
    drift_last_at  BIGINT,
    body           TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    -- Bumped by every write: the folder writes an entry only if nobody changed it since
    -- it was read (an owner decision, a retention purge, another aggregator).
    version        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, event, source)
);
-- The backoffice filters on recent drift across projects.
CREATE INDEX catalog_entries_drift ON catalog_entries (drift_last_at);

-- Events stored but not folded into the catalog yet: one row per stored batch, the ids of
-- its events concatenated (16 bytes each). Written in the batch's transaction, deleted in
-- the transaction that folds them, so each event is counted exactly once.
CREATE TABLE catalog_queue (
    id          INTEGER PRIMARY KEY,
    event_ids   BLOB NOT NULL,
    created_at  BIGINT NOT NULL
);
-- Events stored before the catalog existed are folded in too, oldest first.
INSERT INTO catalog_queue (event_ids, created_at) SELECT id, 0 FROM events ORDER BY seq;
