//! System events the aggregator itself emits (`sendrealm.contact.*`), built as outbox rows.
//!
//! A system event is written to the outbox in the same transaction as its cause, then
//! published by [`crate::outbox`]. Its id and `Nats-Msg-Id` derive from the cause, so the
//! same cause always yields the same event: a retried batch or a re-publish emits it once.

use sendrealm_common::event::{Event, EventObject, Source, Timestamp};
use sendrealm_common::identity::IdentityKind;
use sendrealm_common::subjects;
use serde_json::json;
use uuid::Uuid;

use crate::store::OutboxRow;

/// Emitted when identity resolution creates a contact.
pub const CONTACT_CREATED: &str = "sendrealm.contact.created";
/// Emitted when identity resolution links a new identifier to an existing contact.
pub const CONTACT_UPDATED: &str = "sendrealm.contact.updated";

/// Builds system events for this aggregator.
#[derive(Debug, Clone)]
pub struct SystemEvents {
    /// Subject prefix of the events stream.
    pub subject_prefix: String,
    /// Region stamped on system events.
    pub region: String,
}

/// The contact a system event is about, with the identifiers it carries.
#[derive(Debug, Clone, Copy)]
pub struct ContactRef<'a> {
    /// Its project.
    pub project_id: &'a str,
    /// The contact.
    pub contact_id: Uuid,
    /// Its external id, if the cause carried one.
    pub external_id: Option<&'a str>,
    /// Its email, if the cause carried one.
    pub email: Option<&'a str>,
}

impl SystemEvents {
    /// `sendrealm.contact.created` for a contact created by `cause_event_id`.
    pub fn contact_created(
        &self,
        contact: ContactRef<'_>,
        cause_event_id: Uuid,
        now: i64,
    ) -> OutboxRow {
        let payload = json!({
            "contact_id": contact.contact_id.hyphenated().to_string(),
            "created_by_event": cause_event_id.hyphenated().to_string(),
        });
        let key = format!("contact.created:{}", contact.contact_id.hyphenated());
        self.row(CONTACT_CREATED, contact, key, payload, now)
    }

    /// `sendrealm.contact.updated` for identifiers `cause_event_id` linked to a contact.
    pub fn contact_updated(
        &self,
        contact: ContactRef<'_>,
        linked: &[IdentityKind],
        cause_event_id: Uuid,
        now: i64,
    ) -> OutboxRow {
        let linked: Vec<&str> = linked.iter().map(|kind| kind.as_str()).collect();
        let payload = json!({
            "contact_id": contact.contact_id.hyphenated().to_string(),
            "linked_identifiers": linked,
            "updated_by_event": cause_event_id.hyphenated().to_string(),
        });
        // One update per cause: the same event linking again (a redelivery) is the same
        // system event.
        let key = format!(
            "contact.updated:{}:{}",
            contact.contact_id.hyphenated(),
            cause_event_id.hyphenated()
        );
        self.row(CONTACT_UPDATED, contact, key, payload, now)
    }

    fn row(
        &self,
        name: &str,
        contact: ContactRef<'_>,
        key: String,
        payload: serde_json::Value,
        now: i64,
    ) -> OutboxRow {
        let event = Event {
            id: sendrealm_common::id::event_id_for_key(contact.project_id, &key),
            object: EventObject::Event,
            project_id: contact.project_id.to_owned(),
            event: name.to_owned(),
            contact_id: Some(contact.contact_id.hyphenated().to_string()),
            external_id: contact.external_id.map(str::to_owned),
            email: contact.email.map(str::to_owned),
            payload: serde_json::value::to_raw_value(&payload)
                .unwrap_or_else(|_| sendrealm_common::event::empty_payload()),
            occurred_at: Timestamp::from_unix_millis(now),
            received_at: Timestamp::from_unix_millis(now),
            idempotency_key: Some(key),
            source: Source::System,
            region: self.region.clone(),
        };
        OutboxRow {
            id: event.id.clone(),
            project_id: contact.project_id.to_owned(),
            subject: subjects::event_subject(&self.subject_prefix, contact.project_id, name),
            msg_id: event.msg_id(),
            payload: String::from_utf8(event.to_json()).unwrap_or_default(),
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> SystemEvents {
        SystemEvents {
            subject_prefix: "sendrealm.events".into(),
            region: "central".into(),
        }
    }

    #[test]
    fn the_same_cause_yields_the_same_system_event() {
        let contact = ContactRef {
            project_id: "proj_1",
            contact_id: Uuid::from_u128(7),
            external_id: None,
            email: Some("a@b.co"),
        };
        let a = builder().contact_created(contact, Uuid::from_u128(1), 10);
        let b = builder().contact_created(contact, Uuid::from_u128(1), 20);
        assert_eq!((a.id.clone(), a.msg_id.clone()), (b.id, b.msg_id));
        assert_eq!(
            a.subject,
            "sendrealm.events.proj_1.sendrealm.contact.created"
        );
        let event = Event::from_json(a.payload.as_bytes()).unwrap();
        assert_eq!(event.source, Source::System);
        assert_eq!(event.email.as_deref(), Some("a@b.co"));
        let updated =
            builder().contact_updated(contact, &[IdentityKind::ExternalId], Uuid::from_u128(2), 10);
        let event = Event::from_json(updated.payload.as_bytes()).unwrap();
        assert_eq!(event.event, CONTACT_UPDATED);
        let payload: serde_json::Value = serde_json::from_str(event.payload.get()).unwrap();
        assert_eq!(payload["linked_identifiers"], json!(["external_id"]));
    }
}
