-- Ids become canonical UUIDs (8-4-4-4-12, lowercase). Earlier releases wrote the same
-- 128 bits as evt_<32 hex> (events) and ct_<32 hex> (contacts); rewriting them keeps
-- every id stable, so an idempotency key still yields the id its event was stored under.
-- Dead letters keep their original message bytes: they are read in either form.

-- contacts.id is referenced by contact_identifiers: lift the key while both change.
ALTER TABLE contact_identifiers DROP CONSTRAINT contact_identifiers_contact_id_fkey;

UPDATE contacts
SET id = substr(id, 4, 8) || '-' || substr(id, 12, 4) || '-' || substr(id, 16, 4) || '-'
      || substr(id, 20, 4) || '-' || substr(id, 24, 12)
WHERE id ~ '^ct_[0-9a-f]{32}$';

UPDATE contact_identifiers
SET contact_id = substr(contact_id, 4, 8) || '-' || substr(contact_id, 12, 4) || '-'
      || substr(contact_id, 16, 4) || '-' || substr(contact_id, 20, 4) || '-'
      || substr(contact_id, 24, 12)
WHERE contact_id ~ '^ct_[0-9a-f]{32}$';

UPDATE events
SET id = substr(id, 5, 8) || '-' || substr(id, 13, 4) || '-' || substr(id, 17, 4) || '-'
      || substr(id, 21, 4) || '-' || substr(id, 25, 12)
WHERE id ~ '^evt_[0-9a-f]{32}$';

UPDATE events
SET contact_id = substr(contact_id, 4, 8) || '-' || substr(contact_id, 12, 4) || '-'
      || substr(contact_id, 16, 4) || '-' || substr(contact_id, 20, 4) || '-'
      || substr(contact_id, 24, 12)
WHERE contact_id ~ '^ct_[0-9a-f]{32}$';

UPDATE events
SET sent_contact_id = substr(sent_contact_id, 4, 8) || '-' || substr(sent_contact_id, 12, 4)
      || '-' || substr(sent_contact_id, 16, 4) || '-' || substr(sent_contact_id, 20, 4) || '-'
      || substr(sent_contact_id, 24, 12)
WHERE sent_contact_id ~ '^ct_[0-9a-f]{32}$';

UPDATE identity_conflicts
SET event_id = substr(event_id, 5, 8) || '-' || substr(event_id, 13, 4) || '-'
      || substr(event_id, 17, 4) || '-' || substr(event_id, 21, 4) || '-'
      || substr(event_id, 25, 12)
WHERE event_id ~ '^evt_[0-9a-f]{32}$';

UPDATE identity_conflicts
SET identifier_contact = substr(identifier_contact, 4, 8) || '-'
      || substr(identifier_contact, 12, 4) || '-' || substr(identifier_contact, 16, 4) || '-'
      || substr(identifier_contact, 20, 4) || '-' || substr(identifier_contact, 24, 12)
WHERE identifier_contact ~ '^ct_[0-9a-f]{32}$';

UPDATE identity_conflicts
SET resolved_contact = substr(resolved_contact, 4, 8) || '-'
      || substr(resolved_contact, 12, 4) || '-' || substr(resolved_contact, 16, 4) || '-'
      || substr(resolved_contact, 20, 4) || '-' || substr(resolved_contact, 24, 12)
WHERE resolved_contact ~ '^ct_[0-9a-f]{32}$';

UPDATE outbox
SET id = substr(id, 5, 8) || '-' || substr(id, 13, 4) || '-' || substr(id, 17, 4) || '-'
      || substr(id, 21, 4) || '-' || substr(id, 25, 12)
WHERE id ~ '^evt_[0-9a-f]{32}$';

ALTER TABLE contact_identifiers
    ADD CONSTRAINT contact_identifiers_contact_id_fkey
    FOREIGN KEY (contact_id) REFERENCES contacts (id);
