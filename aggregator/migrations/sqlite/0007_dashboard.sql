-- Owner tokens: an owner signs in to the dashboard with one. Only the SHA-256 is stored;
-- `prefix` identifies a token to humans.
CREATE TABLE owner_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    token_hash  TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    CONSTRAINT owner_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX owner_tokens_project ON owner_tokens (project_id);

-- Browser sessions of the dashboard (owners) and the backoffice (staff). The cookie holds
-- a random id; only its SHA-256 is stored. `kind` is `sign_in` (a sign-in form's CSRF
-- token, before any credential), `owner` or `staff`. `actor` names the token used.
CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    project_id    TEXT REFERENCES projects (id),
    actor         TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_actor ON sessions (actor);

-- Who changed which project policy, when, and how (a JSON object of field: [old, new]).
CREATE TABLE policy_changes (
    id          INTEGER PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    actor       TEXT NOT NULL,
    changed_at  BIGINT NOT NULL,
    changes     TEXT NOT NULL
);
CREATE INDEX policy_changes_project ON policy_changes (project_id, changed_at);

-- The open-waits cap of a project (none when NULL).
ALTER TABLE projects ADD COLUMN max_active_waits BIGINT;
