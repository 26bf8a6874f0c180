use sendrealm_common::event::{EventObject, Source, Timestamp, empty_payload};

use super::*;
use crate::system_events::{CONTACT_CREATED, CONTACT_UPDATED};

const PROJECT: &str = "proj_a";

fn system() -> SystemEvents {
    SystemEvents {
        subject_prefix: "sendrealm.events".into(),
        region: "central".into(),
    }
}

fn incoming(
    n: u128,
    contact: Option<u128>,
    external_id: Option<&str>,
    email: Option<&str>,
) -> Incoming {
    let id = Uuid::from_u128(n);
    Incoming {
        event: Event {
            id: id.hyphenated().to_string(),
            object: EventObject::Event,
            project_id: PROJECT.into(),
            event: "order.completed".into(),
            contact_id: contact.map(|c| Uuid::from_u128(c).hyphenated().to_string()),
            external_id: external_id.map(str::to_owned),
            email: email.map(str::to_owned),
            payload: empty_payload(),
            occurred_at: Timestamp::from_unix_millis(0),
            received_at: Timestamp::from_unix_millis(0),
            idempotency_key: None,
            source: Source::Api,
            region: "eu".into(),
        },
        id,
        sent_contact: contact.map(Uuid::from_u128),
    }
}

fn names(writes: &Writes<'_>) -> Vec<String> {
    writes
        .outbox
        .iter()
        .map(|row| Event::from_json(row.payload.as_bytes()).unwrap().event)
        .collect()
}

#[test]
fn lookups_name_each_identifier_once() {
    let events = [
        incoming(1, None, Some("u1"), Some("a@b.co")),
        incoming(2, Some(9), Some("u1"), None),
    ];
    let lookups = lookups(&events);
    assert_eq!(lookups.contact_ids, vec![Uuid::from_u128(9)]);
    assert_eq!(
        lookups.identifiers,
        vec![
            (PROJECT.into(), "external_id", "u1".into()),
            (PROJECT.into(), "email", "a@b.co".into())
        ]
    );
}

#[test]
fn events_later_in_a_batch_see_contacts_created_earlier() {
    let events = [
        incoming(1, None, None, Some("a@b.co")),
        incoming(2, None, Some("u1"), Some("a@b.co")),
    ];
    let (writes, outcomes) = plan_batch(&events, &Found::default(), &system(), 5);
    assert_eq!(writes.contacts.len(), 1, "one contact for one email");
    let contact = writes.contacts[0].id;
    assert_eq!(
        outcomes,
        vec![
            WriteOutcome::Stored {
                contact_id: Some(contact)
            },
            WriteOutcome::Stored {
                contact_id: Some(contact)
            }
        ]
    );
    let linked: Vec<&str> = writes.identifiers.iter().map(|i| i.key.1).collect();
    assert_eq!(
        linked,
        vec!["email", "external_id"],
        "sorted for one lock order"
    );
    assert_eq!(names(&writes), vec![CONTACT_CREATED, CONTACT_UPDATED]);
}

#[test]
fn a_known_identifier_attaches_without_writing_links() {
    let contact = Uuid::from_u128(42);
    let mut found = Found::default();
    found
        .owners
        .insert((PROJECT.into(), "email", "a@b.co".into()), contact);
    let events = [incoming(1, None, None, Some("a@b.co"))];
    let (writes, outcomes) = plan_batch(&events, &found, &system(), 5);
    assert_eq!(
        outcomes,
        vec![WriteOutcome::Stored {
            contact_id: Some(contact)
        }]
    );
    assert!(
        writes.contacts.is_empty() && writes.identifiers.is_empty() && writes.outbox.is_empty()
    );
    assert_eq!(writes.events.len(), 1);
}

#[test]
fn an_unknown_contact_id_alone_is_stored_unresolved() {
    let events = [incoming(1, Some(77), None, None)];
    let (writes, outcomes) = plan_batch(&events, &Found::default(), &system(), 5);
    assert_eq!(outcomes, vec![WriteOutcome::Stored { contact_id: None }]);
    assert_eq!(writes.events[0].contact_id, None);
    assert_eq!(writes.events[0].sent_contact_id, Some(Uuid::from_u128(77)));
    assert!(writes.contacts.is_empty() && writes.outbox.is_empty());
}

#[test]
fn a_contact_id_of_another_project_is_unknown_here() {
    let mut found = Found::default();
    found
        .contacts
        .insert(Uuid::from_u128(77), "proj_other".into());
    let events = [incoming(1, Some(77), None, None)];
    let (_, outcomes) = plan_batch(&events, &found, &system(), 5);
    assert_eq!(outcomes, vec![WriteOutcome::Stored { contact_id: None }]);
}

#[test]
fn conflicting_identifiers_are_recorded_by_precedence() {
    let (x, e) = (Uuid::from_u128(10), Uuid::from_u128(20));
    let mut found = Found::default();
    found
        .owners
        .insert((PROJECT.into(), "external_id", "u1".into()), x);
    found
        .owners
        .insert((PROJECT.into(), "email", "a@b.co".into()), e);
    let events = [incoming(1, None, Some("u1"), Some("a@b.co"))];
    let (writes, outcomes) = plan_batch(&events, &found, &system(), 5);
    assert_eq!(
        outcomes,
        vec![WriteOutcome::Stored {
            contact_id: Some(x)
        }]
    );
    assert_eq!(writes.conflicts.len(), 1);
    assert_eq!(writes.conflicts[0].identifier_contact, e);
    assert_eq!(writes.conflicts[0].resolved_contact, x);
}

#[test]
fn the_same_event_twice_in_a_batch_is_one_insert() {
    let events = [
        incoming(1, None, Some("u1"), None),
        incoming(1, None, Some("u1"), None),
    ];
    let (writes, outcomes) = plan_batch(&events, &Found::default(), &system(), 5);
    assert_eq!(writes.events.len(), 1);
    assert_eq!(outcomes[1], WriteOutcome::Duplicate);
}

#[test]
fn events_the_insert_skipped_were_stored_before() {
    let events = [
        incoming(1, None, Some("u1"), None),
        incoming(2, None, Some("u2"), None),
    ];
    let (_, outcomes) = plan_batch(&events, &Found::default(), &system(), 5);
    let inserted: HashSet<Uuid> = [Uuid::from_u128(2)].into();
    let settled = settle(&events, outcomes, &inserted);
    assert_eq!(settled[0], WriteOutcome::Duplicate);
    assert!(matches!(settled[1], WriteOutcome::Stored { .. }));
}

#[test]
fn the_catalog_is_handed_what_was_inserted_first_of_each_id() {
    let mut second = incoming(1, None, Some("u1"), None);
    second.event.received_at = Timestamp::from_unix_millis(9);
    let events = [
        incoming(1, None, Some("u1"), None),
        second,
        incoming(2, None, Some("u2"), None),
        incoming(3, None, Some("u3"), None),
    ];
    let inserted: HashSet<Uuid> = [Uuid::from_u128(1), Uuid::from_u128(3)].into();
    let handed: Vec<(u128, i64)> = catalog_events(&events, &inserted)
        .map(|stored| (stored.id.as_u128(), stored.received_at))
        .collect();
    assert_eq!(handed, vec![(1, 0), (3, 0)]);
}
