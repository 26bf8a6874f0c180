//! Identity resolution: which contact an event belongs to, decided without I/O.
//!
//! Precedence everywhere is `contact_id` → `external_id` → normalised `email`. The store
//! looks up what each identifier names (in the write transaction) and [`plan`] decides:
//! attach to the first contact found by precedence, link the identifiers nobody owns yet,
//! record (never "fix") identifiers that name another contact, or create a contact when
//! nothing matches. A `contact_id` is the platform's own id: an unknown one falls through
//! to the event's other identifiers; with none left the event is kept with its identity
//! unresolved (the edge cannot know which contact ids exist, and its `202` promised the
//! event would be stored).

use sendrealm_common::identity::IdentityKind;
use uuid::Uuid;

/// The identifiers an event carries (already validated and normalised by the agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identifiers<'a> {
    /// The platform contact id, if sent.
    pub contact_id: Option<Uuid>,
    /// The customer's id, if sent.
    pub external_id: Option<&'a str>,
    /// The normalised email, if sent.
    pub email: Option<&'a str>,
}

impl<'a> Identifiers<'a> {
    /// The linkable identifiers (external_id, email) that are present.
    pub fn linkable(&self) -> impl Iterator<Item = (IdentityKind, &'a str)> + use<'a> {
        [
            (IdentityKind::ExternalId, self.external_id),
            (IdentityKind::Email, self.email),
        ]
        .into_iter()
        .filter_map(|(kind, value)| value.map(|v| (kind, v)))
    }
}

/// What the store found for each identifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    /// The `contact_id` exists in the event's project.
    pub contact_exists: bool,
    /// The contact the `external_id` names.
    pub by_external_id: Option<Uuid>,
    /// The contact the email names.
    pub by_email: Option<Uuid>,
}

impl Found {
    fn owner(&self, kind: IdentityKind) -> Option<Uuid> {
        match kind {
            IdentityKind::ContactId => None,
            IdentityKind::ExternalId => self.by_external_id,
            IdentityKind::Email => self.by_email,
        }
    }
}

/// An identifier that names a different contact than the one the event resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Which identifier.
    pub kind: IdentityKind,
    /// The contact it keeps naming.
    pub identifier_contact: Uuid,
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Attach to an existing contact.
    Attach {
        /// The contact.
        contact: Uuid,
        /// Identifiers to link to it (nobody owned them).
        link: Vec<IdentityKind>,
        /// Identifiers that name someone else; they keep their contact.
        conflicts: Vec<Conflict>,
    },
    /// Create a contact and link every identifier to it.
    Create {
        /// Identifiers to link.
        link: Vec<IdentityKind>,
    },
    /// The event names nobody it can be attached to: keep it without a contact.
    Unresolved,
}

/// Decides where an event goes.
pub fn plan(ids: &Identifiers<'_>, found: &Found) -> Plan {
    let chosen = match (ids.contact_id, found.contact_exists) {
        (Some(contact_id), true) => Some(contact_id),
        _ => found.by_external_id.or(found.by_email),
    };
    let linkable: Vec<(IdentityKind, &str)> = ids.linkable().collect();
    let Some(contact) = chosen else {
        if ids.contact_id.is_some() && linkable.is_empty() {
            return Plan::Unresolved;
        }
        return Plan::Create {
            link: linkable.iter().map(|(kind, _)| *kind).collect(),
        };
    };
    let mut link = Vec::new();
    let mut conflicts = Vec::new();
    for (kind, _) in linkable {
        match found.owner(kind) {
            None => link.push(kind),
            Some(owner) if owner == contact => {}
            Some(owner) => conflicts.push(Conflict {
                kind,
                identifier_contact: owner,
            }),
        }
    }
    Plan::Attach {
        contact,
        link,
        conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IdentityKind::{Email, ExternalId};

    /// A contact id for tests.
    fn ct(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn ids<'a>(cid: Option<Uuid>, xid: Option<&'a str>, em: Option<&'a str>) -> Identifiers<'a> {
        Identifiers {
            contact_id: cid,
            external_id: xid,
            email: em,
        }
    }

    #[test]
    fn nothing_known_creates_a_contact_with_every_identifier() {
        let plan = plan(&ids(None, Some("u1"), Some("a@b.co")), &Found::default());
        assert_eq!(
            plan,
            Plan::Create {
                link: vec![ExternalId, Email]
            }
        );
    }

    #[test]
    fn email_then_external_id_links_to_the_same_contact() {
        let found = Found {
            by_email: Some(ct(1)),
            ..Found::default()
        };
        let plan = plan(&ids(None, Some("u1"), Some("a@b.co")), &found);
        assert_eq!(
            plan,
            Plan::Attach {
                contact: ct(1),
                link: vec![ExternalId],
                conflicts: vec![]
            }
        );
    }

    #[test]
    fn precedence_decides_conflicts_and_records_them() {
        let found = Found {
            contact_exists: false,
            by_external_id: Some(ct(24)),
            by_email: Some(ct(14)),
        };
        let plan = plan(&ids(None, Some("u1"), Some("a@b.co")), &found);
        assert_eq!(
            plan,
            Plan::Attach {
                contact: ct(24),
                link: vec![],
                conflicts: vec![Conflict {
                    kind: Email,
                    identifier_contact: ct(14)
                }]
            }
        );
    }

    #[test]
    fn a_known_contact_id_wins() {
        let found = Found {
            contact_exists: true,
            by_external_id: None,
            by_email: Some(ct(8)),
        };
        let plan = plan(&ids(Some(ct(7)), Some("u9"), Some("a@b.co")), &found);
        assert_eq!(
            plan,
            Plan::Attach {
                contact: ct(7),
                link: vec![ExternalId],
                conflicts: vec![Conflict {
                    kind: Email,
                    identifier_contact: ct(8)
                }]
            }
        );
    }

    #[test]
    fn an_unknown_contact_id_falls_through_or_stays_unresolved() {
        let found = Found {
            by_email: Some(ct(14)),
            ..Found::default()
        };
        assert!(matches!(
            plan(&ids(Some(ct(99)), None, Some("a@b.co")), &found),
            Plan::Attach { contact, .. } if contact == ct(14)
        ));
        assert_eq!(
            plan(&ids(Some(ct(99)), Some("u1"), None), &Found::default()),
            Plan::Create {
                link: vec![ExternalId]
            }
        );
        assert_eq!(
            plan(&ids(Some(ct(99)), None, None), &Found::default()),
            Plan::Unresolved
        );
    }
}
