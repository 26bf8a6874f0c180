//! What the consumer has learnt that can never change: projects that exist, the contact
//! each identifier names, the project each contact belongs to.
//!
//! An identifier, once linked, names its contact for good (links are never moved, only
//! added; conflicts are recorded, never "fixed"), and contacts and projects are never
//! deleted. So a batch whose identifiers are all known needs no lookup in the database:
//! one statement and one round trip fewer per transaction. Only what a committed
//! transaction found or wrote is remembered. The maps are bounded: when full they start
//! over, which costs lookups, never correctness.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::store::write::{Found, Lookups, Writes};

/// Entries kept per map before starting over.
const CAPACITY: usize = 200_000;

/// Projects, identifier links and contacts known to exist.
#[derive(Debug, Default)]
pub struct Known {
    projects: Mutex<HashSet<String>>,
    identity: Mutex<Found>,
}

impl Known {
    /// Whether a project is known to exist.
    pub fn has_project(&self, id: &str) -> bool {
        self.projects.lock().is_ok_and(|p| p.contains(id))
    }

    /// Remembers that a project exists.
    pub fn add_project(&self, id: &str) {
        if let Ok(mut projects) = self.projects.lock() {
            if projects.len() >= CAPACITY {
                projects.clear();
            }
            projects.insert(id.to_owned());
        }
    }

    /// Splits a batch's lookups into what is already known and what the database must be
    /// asked.
    pub fn split(&self, lookups: &Lookups) -> (Found, Lookups) {
        let mut known = Found::default();
        let mut ask = Lookups::default();
        let Ok(identity) = self.identity.lock() else {
            return (known, lookups.clone());
        };
        for id in &lookups.contact_ids {
            match identity.contacts.get(id) {
                Some(project) => {
                    known.contacts.insert(*id, project.clone());
                }
                None => ask.contact_ids.push(*id),
            }
        }
        for key in &lookups.identifiers {
            match identity.owners.get(key) {
                Some(contact) => {
                    known.owners.insert(key.clone(), *contact);
                }
                None => ask.identifiers.push(key.clone()),
            }
        }
        (known, ask)
    }

    /// Remembers what a committed transaction found and wrote (see [`learnt`]).
    pub fn remember(&self, learnt: Found) {
        let Ok(mut identity) = self.identity.lock() else {
            return;
        };
        if identity.owners.len() >= CAPACITY || identity.contacts.len() >= CAPACITY {
            *identity = Found::default();
        }
        identity.owners.extend(learnt.owners);
        identity.contacts.extend(learnt.contacts);
    }
}

/// What a transaction teaches, once committed: the links and contacts it found, and those
/// it created.
pub fn learnt(found: &Found, writes: &Writes<'_>) -> Found {
    let mut learnt = found.clone();
    learnt.owners.extend(
        writes
            .identifiers
            .iter()
            .map(|link| (link.key.clone(), link.contact_id)),
    );
    learnt.contacts.extend(
        writes
            .contacts
            .iter()
            .map(|contact| (contact.id, contact.project_id.clone())),
    );
    learnt
}

/// Joins what was known with what the database found.
pub fn merged(known: &Found, found: &Found) -> Found {
    let mut all = known.clone();
    all.contacts
        .extend(found.contacts.iter().map(|(c, p)| (*c, p.clone())));
    all.owners
        .extend(found.owners.iter().map(|(k, c)| (k.clone(), *c)));
    all
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::store::write::{NewContact, NewIdentifier};

    fn key(value: &str) -> (String, &'static str, String) {
        ("proj_a".into(), "email", value.into())
    }

    #[test]
    fn only_the_unknown_is_asked_after_a_commit_taught_the_rest() {
        let known = Known::default();
        let lookups = Lookups {
            contact_ids: vec![Uuid::from_u128(1)],
            identifiers: vec![key("a@b.co"), key("c@d.co")],
        };
        let (hits, ask) = known.split(&lookups);
        assert_eq!(hits, Found::default());
        assert_eq!(ask, lookups);

        let mut found = Found::default();
        found.owners.insert(key("a@b.co"), Uuid::from_u128(7));
        let writes = Writes {
            contacts: vec![NewContact {
                id: Uuid::from_u128(1),
                project_id: "proj_a".into(),
            }],
            identifiers: vec![NewIdentifier {
                key: key("c@d.co"),
                contact_id: Uuid::from_u128(1),
            }],
            ..Writes::default()
        };
        known.remember(learnt(&found, &writes));
        let (hits, ask) = known.split(&lookups);
        assert_eq!(ask, Lookups::default(), "nothing left to ask");
        assert_eq!(hits.owners[&key("c@d.co")], Uuid::from_u128(1));
        assert_eq!(hits.contacts[&Uuid::from_u128(1)], "proj_a");
        let all = merged(&hits, &Found::default());
        assert_eq!(all, hits);
    }
}
