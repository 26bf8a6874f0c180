-- Contacts, their identifiers, events, identity conflicts and the system-event outbox.

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX contacts_project ON contacts (project_id);

-- One identifier (external_id or normalised email) names one contact per project; the
-- primary key is what stops two aggregators from creating two contacts for it.
CREATE TABLE contact_identifiers (
    project_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    contact_id  TEXT NOT NULL REFERENCES contacts (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, kind, value)
);
CREATE INDEX contact_identifiers_contact ON contact_identifiers (contact_id);

-- seq is the time-ordered row key (inserts stay local); the event id and the
-- (project, idempotency key) pair are unique so redeliveries and re-sends store once.
CREATE TABLE events (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT NOT NULL,
    project_id       TEXT NOT NULL,
    event            TEXT NOT NULL,
    contact_id       TEXT NOT NULL,
    sent_contact_id  TEXT,
    external_id      TEXT,
    email            TEXT,
    payload          TEXT NOT NULL,
    occurred_at      BIGINT NOT NULL,
    received_at      BIGINT NOT NULL,
    stored_at        BIGINT NOT NULL,
    idempotency_key  TEXT,
    source           TEXT NOT NULL,
    region           TEXT NOT NULL,
    CONSTRAINT events_id_key UNIQUE (id),
    CONSTRAINT events_project_idempotency_key UNIQUE (project_id, idempotency_key)
);
CREATE INDEX events_project_seq ON events (project_id, seq);
CREATE INDEX events_contact_seq ON events (project_id, contact_id, seq);
CREATE INDEX events_project_received ON events (project_id, received_at);

-- An event whose identifiers named two different contacts: it was attached by precedence
-- and the identifier kept its contact.
CREATE TABLE identity_conflicts (
    seq                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id           TEXT NOT NULL,
    event_id             TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    value                TEXT NOT NULL,
    identifier_contact   TEXT NOT NULL,
    resolved_contact     TEXT NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX identity_conflicts_project ON identity_conflicts (project_id, seq);

-- System events written in the same transaction as their cause, published afterwards.
CREATE TABLE outbox (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    msg_id      TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
