//! Deciding a consumed batch, without I/O: which contact each event belongs to, which
//! contacts and identifier links to create, which conflicts and system events to record.
//!
//! The store runs [`lookups`] in the write transaction and hands what it found to
//! [`plan_batch`]; events later in a batch see the contacts and links decided for earlier
//! ones. Whether an event was stored before is not looked up: its insert says so
//! ([`settle`]), and planning a duplicate writes nothing new, as its identifiers were
//! linked when the original was stored.

use std::collections::{HashMap, HashSet};

use sendrealm_common::event::Event;
use sendrealm_common::identity::IdentityKind;
use uuid::Uuid;

use crate::identity::{self, Identifiers, Plan};
use crate::store::write::{
    Found, IdentifierKey, Lookups, NewConflict, NewContact, NewEvent, NewIdentifier, Writes,
};
use crate::system_events::{ContactRef, SystemEvents};

/// A consumed event, its ids already parsed by the decoder.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The event.
    pub event: Event,
    /// Its id.
    pub id: Uuid,
    /// The `contact_id` it was sent with.
    pub sent_contact: Option<Uuid>,
}

/// What became of one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored now; attached to this contact (`None`: its identity is unresolved).
    Stored {
        /// The resolved contact.
        contact_id: Option<Uuid>,
    },
    /// Already stored (a redelivery or a re-send): nothing written.
    Duplicate,
}

fn identifiers_of(incoming: &Incoming) -> Identifiers<'_> {
    Identifiers {
        contact_id: incoming.sent_contact,
        external_id: incoming.event.external_id.as_deref(),
        email: incoming.event.email.as_deref(),
    }
}

fn key(project_id: &str, kind: IdentityKind, value: &str) -> IdentifierKey {
    (project_id.to_owned(), kind.as_str(), value.to_owned())
}

/// What a batch needs looked up: the contact ids it names and its identifiers.
pub fn lookups(events: &[Incoming]) -> Lookups {
    let mut contact_ids = HashSet::new();
    let mut seen = HashSet::new();
    let mut identifiers = Vec::new();
    for incoming in events {
        if let Some(contact) = incoming.sent_contact {
            contact_ids.insert(contact);
        }
        for (kind, value) in identifiers_of(incoming).linkable() {
            let key = key(&incoming.event.project_id, kind, value);
            if seen.insert(key.clone()) {
                identifiers.push(key);
            }
        }
    }
    Lookups {
        contact_ids: contact_ids.into_iter().collect(),
        identifiers,
    }
}

/// Decides a batch: one outcome per event (provisionally `Stored` for events to insert)
/// and everything to write.
pub fn plan_batch<'a>(
    events: &'a [Incoming],
    found: &Found,
    system: &SystemEvents,
    now: i64,
) -> (Writes<'a>, Vec<WriteOutcome>) {
    let mut writes = Writes::default();
    let mut outcomes = Vec::with_capacity(events.len());
    let mut owners: HashMap<IdentifierKey, Uuid> = found.owners.clone();
    let mut created: HashMap<Uuid, &str> = HashMap::new();
    let mut seen_ids = HashSet::new();
    for incoming in events {
        let event = &incoming.event;
        if !seen_ids.insert(incoming.id) {
            outcomes.push(WriteOutcome::Duplicate);
            continue;
        }
        let ids = identifiers_of(incoming);
        let project = event.project_id.as_str();
        let owner = |kind, value: Option<&str>| {
            value.and_then(|v| owners.get(&key(project, kind, v)).copied())
        };
        let contact_exists = incoming.sent_contact.is_some_and(|cid| {
            found
                .contacts
                .get(&cid)
                .map(String::as_str)
                .or(created.get(&cid).copied())
                == Some(project)
        });
        let lookup = identity::Found {
            contact_exists,
            by_external_id: owner(IdentityKind::ExternalId, ids.external_id),
            by_email: owner(IdentityKind::Email, ids.email),
        };
        let contact_ref = |contact_id| ContactRef {
            project_id: project,
            contact_id,
            external_id: ids.external_id,
            email: ids.email,
        };
        let (contact, link, conflicts) = match identity::plan(&ids, &lookup) {
            Plan::Unresolved => (None, Vec::new(), Vec::new()),
            Plan::Attach {
                contact,
                link,
                conflicts,
            } => {
                if !link.is_empty() {
                    writes.outbox.push(system.contact_updated(
                        contact_ref(contact),
                        &link,
                        incoming.id,
                        now,
                    ));
                }
                (Some(contact), link, conflicts)
            }
            Plan::Create { link } => {
                let contact = Uuid::now_v7();
                created.insert(contact, project);
                writes.contacts.push(NewContact {
                    id: contact,
                    project_id: project.to_owned(),
                });
                writes
                    .outbox
                    .push(system.contact_created(contact_ref(contact), incoming.id, now));
                (Some(contact), link, Vec::new())
            }
        };
        if let Some(contact) = contact {
            for kind in link {
                let key = key(project, kind, value_of(&ids, kind));
                owners.insert(key.clone(), contact);
                writes.identifiers.push(NewIdentifier {
                    key,
                    contact_id: contact,
                });
            }
            for conflict in conflicts {
                writes.conflicts.push(NewConflict {
                    event_id: incoming.id,
                    key: key(project, conflict.kind, value_of(&ids, conflict.kind)),
                    identifier_contact: conflict.identifier_contact,
                    resolved_contact: contact,
                });
            }
        }
        writes.events.push(NewEvent {
            event,
            id: incoming.id,
            contact_id: contact,
            sent_contact_id: incoming.sent_contact,
        });
        outcomes.push(WriteOutcome::Stored {
            contact_id: contact,
        });
    }
    // One lock order for every writer: concurrent batches claiming the same identifiers
    // then wait for each other instead of deadlocking.
    writes.identifiers.sort_by(|a, b| a.key.cmp(&b.key));
    (writes, outcomes)
}

/// The final outcomes: events planned for insert that the insert skipped were stored
/// before (or by a concurrent writer).
pub fn settle(
    events: &[Incoming],
    mut outcomes: Vec<WriteOutcome>,
    inserted: &HashSet<Uuid>,
) -> Vec<WriteOutcome> {
    for (incoming, outcome) in events.iter().zip(outcomes.iter_mut()) {
        if matches!(outcome, WriteOutcome::Stored { .. }) && !inserted.contains(&incoming.id) {
            *outcome = WriteOutcome::Duplicate;
        }
    }
    outcomes
}

/// The events of a batch this transaction inserted, as the catalog folder reads them
/// (the same columns the store holds), in batch order. Of two with one id, the first is
/// the one stored (see [`plan_batch`]).
pub fn catalog_events<'a>(
    events: &'a [Incoming],
    inserted: &'a HashSet<Uuid>,
) -> impl Iterator<Item = crate::catalog::fold::Stored> + 'a {
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(move |incoming| inserted.contains(&incoming.id) && seen.insert(incoming.id))
        .map(|incoming| {
            let event = &incoming.event;
            crate::catalog::fold::Stored {
                id: incoming.id,
                key: crate::catalog::fold::Key {
                    project_id: event.project_id.clone(),
                    event: event.event.clone(),
                    source: event.source.as_str().to_owned(),
                },
                payload: event.payload.get().to_owned(),
                received_at: event.received_at.unix_millis(),
            }
        })
}

fn value_of<'a>(ids: &Identifiers<'a>, kind: IdentityKind) -> &'a str {
    match kind {
        IdentityKind::ContactId => "",
        IdentityKind::ExternalId => ids.external_id.unwrap_or_default(),
        IdentityKind::Email => ids.email.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests;
