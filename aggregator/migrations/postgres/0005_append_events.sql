-- Events shaped for append. Ids become native UUIDs (16 bytes instead of 36-character
-- text in every index entry); the (project, idempotency key) unique key goes, as the
-- event id is derived from that pair and is unique itself; the contact index is keyed by
-- contact id alone (contact ids are unique across projects); and an event may be stored
-- without a contact when its identity cannot be resolved (an unknown contact_id and
-- nothing else), instead of being dead-lettered. Every row is kept.

CREATE FUNCTION pg_temp.as_uuid(text) RETURNS uuid LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN $1 ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              THEN $1::uuid END $$;

ALTER TABLE contact_identifiers DROP CONSTRAINT contact_identifiers_contact_id_fkey;
ALTER TABLE contacts ALTER COLUMN id TYPE uuid USING id::uuid;
ALTER TABLE contact_identifiers ALTER COLUMN contact_id TYPE uuid USING contact_id::uuid;
ALTER TABLE contact_identifiers
    ADD CONSTRAINT contact_identifiers_contact_id_fkey
    FOREIGN KEY (contact_id) REFERENCES contacts (id);

ALTER TABLE events DROP CONSTRAINT events_project_idempotency_key;
DROP INDEX events_contact_seq;
-- Ids that were never UUIDs (only possible for messages published around the agent
-- before ids were checked) get a fresh random id rather than stopping the upgrade.
ALTER TABLE events ALTER COLUMN id TYPE uuid USING coalesce(pg_temp.as_uuid(id), gen_random_uuid());
-- NULL: the identity was not resolved (see docs/read-api.md).
ALTER TABLE events ALTER COLUMN contact_id DROP NOT NULL;
ALTER TABLE events ALTER COLUMN contact_id TYPE uuid USING pg_temp.as_uuid(contact_id);
ALTER TABLE events ALTER COLUMN sent_contact_id TYPE uuid USING pg_temp.as_uuid(sent_contact_id);
CREATE INDEX events_contact_seq ON events (contact_id, seq);

DELETE FROM identity_conflicts
WHERE pg_temp.as_uuid(event_id) IS NULL OR pg_temp.as_uuid(identifier_contact) IS NULL
   OR pg_temp.as_uuid(resolved_contact) IS NULL;
ALTER TABLE identity_conflicts ALTER COLUMN event_id TYPE uuid USING event_id::uuid;
ALTER TABLE identity_conflicts ALTER COLUMN identifier_contact TYPE uuid USING identifier_contact::uuid;
ALTER TABLE identity_conflicts ALTER COLUMN resolved_contact TYPE uuid USING resolved_contact::uuid;
