-- Events shaped for append. Ids become 16-byte UUID blobs (a 36-character text key made
-- every index entry twice as large); the (project, idempotency key) unique key goes, as
-- the event id is derived from that pair and is unique itself; the contact index is
-- keyed by contact id alone (contact ids are unique across projects); and an event may
-- be stored without a contact when its identity cannot be resolved (an unknown
-- contact_id and nothing else), instead of being dead-lettered. Every row is kept, with
-- its seq, so cursors and counts survive the upgrade.

-- The tables are rebuilt (SQLite cannot change a column's type); contacts are referenced
-- by contact_identifiers, so keys are checked at commit.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE contacts_v5 (
    id          BLOB PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    created_at  BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO contacts_v5 (id, project_id, created_at)
SELECT unhex(replace(id, '-', '')), project_id, created_at FROM contacts;

CREATE TABLE contact_identifiers_v5 (
    project_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    -- Renaming contacts_v5 below rewrites this reference to `contacts`.
    contact_id  BLOB NOT NULL REFERENCES contacts_v5 (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, kind, value)
) WITHOUT ROWID;
INSERT INTO contact_identifiers_v5 (project_id, kind, value, contact_id, created_at)
SELECT project_id, kind, value, unhex(replace(contact_id, '-', '')), created_at
FROM contact_identifiers;

-- contact_id NULL: the identity was not resolved (see docs/read-api.md).
CREATE TABLE events_v5 (
    seq              INTEGER PRIMARY KEY,
    id               BLOB NOT NULL,
    project_id       TEXT NOT NULL,
    event            TEXT NOT NULL,
    contact_id       BLOB,
    sent_contact_id  BLOB,
    external_id      TEXT,
    email            TEXT,
    payload          TEXT NOT NULL,
    occurred_at      BIGINT NOT NULL,
    received_at      BIGINT NOT NULL,
    stored_at        BIGINT NOT NULL,
    idempotency_key  TEXT,
    source           TEXT NOT NULL,
    region           TEXT NOT NULL
);
-- Ids that were never UUIDs (only possible for messages published around the agent
-- before ids were checked) get a fresh random id rather than stopping the upgrade.
INSERT INTO events_v5 (seq, id, project_id, event, contact_id, sent_contact_id, external_id,
                       email, payload, occurred_at, received_at, stored_at, idempotency_key,
                       source, region)
SELECT seq,
       coalesce(CASE WHEN length(id) = 36 THEN unhex(replace(id, '-', '')) END, randomblob(16)),
       project_id, event,
       CASE WHEN length(contact_id) = 36 THEN unhex(replace(contact_id, '-', '')) END,
       CASE WHEN length(sent_contact_id) = 36 THEN unhex(replace(sent_contact_id, '-', '')) END,
       external_id, email, payload, occurred_at, received_at, stored_at, idempotency_key,
       source, region
FROM events;

CREATE TABLE identity_conflicts_v5 (
    seq                  INTEGER PRIMARY KEY,
    project_id           TEXT NOT NULL,
    event_id             BLOB NOT NULL,
    kind                 TEXT NOT NULL,
    value                TEXT NOT NULL,
    identifier_contact   BLOB NOT NULL,
    resolved_contact     BLOB NOT NULL,
    created_at           BIGINT NOT NULL
);
INSERT INTO identity_conflicts_v5
SELECT seq, project_id, unhex(replace(event_id, '-', '')),
       kind, value, unhex(replace(identifier_contact, '-', '')),
       unhex(replace(resolved_contact, '-', '')), created_at
FROM identity_conflicts
WHERE length(event_id) = 36 AND length(identifier_contact) = 36
  AND length(resolved_contact) = 36;

DROP TABLE identity_conflicts;
DROP TABLE events;
DROP TABLE contact_identifiers;
DROP TABLE contacts;
ALTER TABLE contacts_v5 RENAME TO contacts;
ALTER TABLE contact_identifiers_v5 RENAME TO contact_identifiers;
ALTER TABLE events_v5 RENAME TO events;
ALTER TABLE identity_conflicts_v5 RENAME TO identity_conflicts;

CREATE INDEX contacts_project ON contacts (project_id);
CREATE INDEX contact_identifiers_contact ON contact_identifiers (contact_id);
-- Only the indexes the read API and retention use: each one is paid on every event.
CREATE UNIQUE INDEX events_id ON events (id);
CREATE INDEX events_project_seq ON events (project_id, seq);
CREATE INDEX events_contact_seq ON events (contact_id, seq);
CREATE INDEX events_project_received ON events (project_id, received_at);
CREATE INDEX identity_conflicts_project ON identity_conflicts (project_id, seq);
