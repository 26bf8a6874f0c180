//! Writing a batch of consumed events in one transaction, identity resolution included.
//!
//! The I/O is a fixed number of statements per batch, whatever its size: one lookup of
//! already-stored ids, one of contacts, one of identifiers, then one multi-row insert per
//! table. Between the lookups and the inserts, [`plan_batch`] decides everything in memory
//! (so events later in a batch see contacts created earlier in it).

use std::collections::{HashMap, HashSet};

use sendrealm_common::event::Event;
use sendrealm_common::identity::IdentityKind;

use super::OutboxRow;
use crate::emit::SystemEvents;
use crate::identity::{self, Found, Identifiers, Plan};

/// Most rows per multi-row statement (SQLite allows 32 766 parameters; 14 columns × 1000).
pub const ROWS_PER_STATEMENT: usize = 1000;

/// What became of one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored now, attached to this contact.
    Stored {
        /// The resolved contact.
        contact_id: String,
    },
    /// Already stored (a redelivery or a re-send): nothing written.
    Duplicate,
    /// Cannot be stored; the reason goes to the dead-letter queue.
    Rejected(String),
}

/// A contact to create.
#[derive(Debug, Clone)]
pub struct NewContact {
    /// A UUIDv7.
    pub id: String,
    /// Owning project.
    pub project_id: String,
}

/// An identifier to link.
#[derive(Debug, Clone)]
pub struct NewIdentifier {
    /// Project.
    pub project_id: String,
    /// `external_id` or `email`.
    pub kind: &'static str,
    /// The value.
    pub value: String,
    /// The contact it names.
    pub contact_id: String,
}

/// An identity conflict to record.
#[derive(Debug, Clone)]
pub struct NewConflict {
    /// Project.
    pub project_id: String,
    /// The event that carried it.
    pub event_id: String,
    /// Which identifier.
    pub kind: &'static str,
    /// Its value.
    pub value: String,
    /// The contact the identifier keeps naming.
    pub identifier_contact: String,
    /// The contact the event was attached to.
    pub resolved_contact: String,
}

/// Everything a batch writes, decided before writing.
#[derive(Debug, Default)]
pub struct BatchPlan {
    /// One outcome per input event (events to insert are provisionally `Stored`).
    pub outcomes: Vec<WriteOutcome>,
    /// Indexes of events to insert, with their resolved contact.
    pub inserts: Vec<(usize, String)>,
    /// Contacts to create.
    pub contacts: Vec<NewContact>,
    /// Identifiers to link.
    pub identifiers: Vec<NewIdentifier>,
    /// Conflicts to record.
    pub conflicts: Vec<NewConflict>,
    /// System events to emit.
    pub outbox: Vec<OutboxRow>,
}

/// Key of an identifier lookup: (project, kind, value).
pub type IdentifierKey = (String, &'static str, String);

/// The identifier lookups a batch needs (project, kind, value), deduplicated.
pub fn identifier_keys(events: &[Event]) -> Vec<IdentifierKey> {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    for event in events {
        for (kind, value) in identifiers_of(event).linkable() {
            let key = (event.project_id.clone(), kind.as_str(), value.to_owned());
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
    }
    keys
}

fn identifiers_of(event: &Event) -> Identifiers<'_> {
    Identifiers {
        contact_id: event.contact_id.as_deref(),
        external_id: event.external_id.as_deref(),
        email: event.email.as_deref(),
    }
}

/// Decides a batch. `stored` holds ids already in the database, `contacts` the
/// (contact id → project) of every `contact_id` the batch names that exists, `owners` the
/// contact of every identifier that is linked.
pub fn plan_batch(
    events: &[Event],
    stored: &HashSet<String>,
    contacts: &HashMap<String, String>,
    mut owners: HashMap<IdentifierKey, String>,
    system: &SystemEvents,
    now: i64,
) -> BatchPlan {
    let mut plan = BatchPlan::default();
    let mut seen_ids = HashSet::new();
    let mut created: HashMap<String, String> = HashMap::new();
    for (index, event) in events.iter().enumerate() {
        if stored.contains(&event.id) || !seen_ids.insert(event.id.as_str()) {
            plan.outcomes.push(WriteOutcome::Duplicate);
            continue;
        }
        let ids = identifiers_of(event);
        let owner = |kind: IdentityKind, value: Option<&str>| {
            value.and_then(|v| {
                owners
                    .get(&(event.project_id.clone(), kind.as_str(), v.to_owned()))
                    .cloned()
            })
        };
        let by_external_id = owner(IdentityKind::ExternalId, ids.external_id);
        let by_email = owner(IdentityKind::Email, ids.email);
        let contact_exists = ids
            .contact_id
            .is_some_and(|cid| contacts.get(cid).or(created.get(cid)) == Some(&event.project_id));
        let found = Found {
            contact_exists,
            by_external_id: by_external_id.as_deref(),
            by_email: by_email.as_deref(),
        };
        let (contact, link, conflicts) = match identity::plan(&ids, &found) {
            Plan::Reject(reason) => {
                plan.outcomes.push(WriteOutcome::Rejected(reason));
                continue;
            }
            Plan::Attach {
                contact,
                link,
                conflicts,
            } => (contact, link, conflicts),
            Plan::Create { link } => {
                let contact = sendrealm_common::id::new_contact_id();
                created.insert(contact.clone(), event.project_id.clone());
                plan.contacts.push(NewContact {
                    id: contact.clone(),
                    project_id: event.project_id.clone(),
                });
                plan.outbox.push(system.contact_created(
                    &event.project_id,
                    &contact,
                    ids.external_id,
                    ids.email,
                    &event.id,
                    now,
                ));
                (contact, link, Vec::new())
            }
        };
        for kind in link {
            let value = value_of(&ids, kind).to_owned();
            owners.insert(
                (event.project_id.clone(), kind.as_str(), value.clone()),
                contact.clone(),
            );
            plan.identifiers.push(NewIdentifier {
                project_id: event.project_id.clone(),
                kind: kind.as_str(),
                value,
                contact_id: contact.clone(),
            });
        }
        for conflict in conflicts {
            plan.conflicts.push(NewConflict {
                project_id: event.project_id.clone(),
                event_id: event.id.clone(),
                kind: conflict.kind.as_str(),
                value: value_of(&ids, conflict.kind).to_owned(),
                identifier_contact: conflict.identifier_contact,
                resolved_contact: contact.clone(),
            });
        }
        plan.inserts.push((index, contact.clone()));
        plan.outcomes.push(WriteOutcome::Stored {
            contact_id: contact,
        });
    }
    plan
}

fn value_of<'a>(ids: &Identifiers<'a>, kind: IdentityKind) -> &'a str {
    match kind {
        IdentityKind::ContactId => ids.contact_id,
        IdentityKind::ExternalId => ids.external_id,
        IdentityKind::Email => ids.email,
    }
    .unwrap_or_default()
}

/// `($1,$2,$3),($4,$5,$6)…`: placeholders for `rows` rows of `cols` columns.
pub fn row_placeholders(rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push(',');
            }
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        }
        out.push(')');
    }
    out
}

/// Implements `Store::write_batch` for a backend whose struct has `self.pool` and
/// `self.begin_write()`.
macro_rules! write_batch_impl {
    () => {
        async fn write_batch(
            &self,
            events: &[sendrealm_common::event::Event],
            system: &$crate::emit::SystemEvents,
            now: i64,
        ) -> Result<Vec<$crate::store::write::WriteOutcome>, $crate::store::StoreError> {
            use std::collections::{HashMap, HashSet};

            use sqlx::{AssertSqlSafe, Row};
            use $crate::store::write::{ROWS_PER_STATEMENT, WriteOutcome, row_placeholders};

            let mut tx = self.begin_write().await?;

            let mut stored: HashSet<String> = HashSet::new();
            for chunk in events.chunks(ROWS_PER_STATEMENT) {
                let sql = format!("SELECT id FROM events WHERE id IN {}", row_placeholders(1, chunk.len()));
                let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
                for event in chunk {
                    query = query.bind(&event.id);
                }
                stored.extend(query.fetch_all(&mut *tx).await?);
            }

            let contact_ids: Vec<&str> = events
                .iter()
                .filter_map(|e| e.contact_id.as_deref())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut contacts: HashMap<String, String> = HashMap::new();
            for chunk in contact_ids.chunks(ROWS_PER_STATEMENT) {
                let sql = format!("SELECT id, project_id FROM contacts WHERE id IN {}", row_placeholders(1, chunk.len()));
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(*id);
                }
                for row in query.fetch_all(&mut *tx).await? {
                    contacts.insert(row.try_get(0)?, row.try_get(1)?);
                }
            }

            let keys = $crate::store::write::identifier_keys(events);
            let mut owners = HashMap::new();
            for chunk in keys.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "SELECT project_id, kind, value, contact_id FROM contact_identifiers \
                     WHERE (project_id, kind, value) IN (VALUES {})",
                    row_placeholders(chunk.len(), 3)
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (project, kind, value) in chunk {
                    query = query.bind(project).bind(*kind).bind(value);
                }
                for row in query.fetch_all(&mut *tx).await? {
                    let kind: String = row.try_get(1)?;
                    let kind = if kind == "email" { "email" } else { "external_id" };
                    owners.insert((row.try_get(0)?, kind, row.try_get(2)?), row.try_get(3)?);
                }
            }

            let mut plan = $crate::store::write::plan_batch(events, &stored, &contacts, owners, system, now);
            // One lock order for every writer: concurrent batches claiming the same
            // identifiers then wait for each other instead of deadlocking.
            plan.identifiers.sort_by(|a, b| (&a.project_id, a.kind, &a.value).cmp(&(&b.project_id, b.kind, &b.value)));

            for chunk in plan.contacts.chunks(ROWS_PER_STATEMENT) {
                let sql = format!("INSERT INTO contacts (id, project_id, created_at) VALUES {}", row_placeholders(chunk.len(), 3));
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for c in chunk {
                    query = query.bind(&c.id).bind(&c.project_id).bind(now);
                }
                query.execute(&mut *tx).await?;
            }
            for chunk in plan.identifiers.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO contact_identifiers (project_id, kind, value, contact_id, created_at) VALUES {}",
                    row_placeholders(chunk.len(), 5)
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for i in chunk {
                    query = query.bind(&i.project_id).bind(i.kind).bind(&i.value).bind(&i.contact_id).bind(now);
                }
                query.execute(&mut *tx).await?;
            }
            for chunk in plan.outbox.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO outbox (id, project_id, subject, msg_id, payload, created_at) VALUES {} \
                     ON CONFLICT DO NOTHING",
                    row_placeholders(chunk.len(), 6)
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for o in chunk {
                    query = query
                        .bind(&o.id)
                        .bind(&o.project_id)
                        .bind(&o.subject)
                        .bind(&o.msg_id)
                        .bind(&o.payload)
                        .bind(o.created_at);
                }
                query.execute(&mut *tx).await?;
            }
            let mut inserted: HashSet<String> = HashSet::new();
            for chunk in plan.inserts.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO events (id, project_id, event, contact_id, sent_contact_id, external_id, email, \
                     payload, occurred_at, received_at, stored_at, idempotency_key, source, region) VALUES {} \
                     ON CONFLICT DO NOTHING RETURNING id",
                    row_placeholders(chunk.len(), 14)
                );
                let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
                for (index, contact) in chunk {
                    let e = &events[*index];
                    query = query
                        .bind(&e.id)
                        .bind(&e.project_id)
                        .bind(&e.event)
                        .bind(contact)
                        .bind(e.contact_id.as_deref())
                        .bind(e.external_id.as_deref())
                        .bind(e.email.as_deref())
                        .bind(e.payload.get())
                        .bind(e.occurred_at.unix_millis())
                        .bind(e.received_at.unix_millis())
                        .bind(now)
                        .bind(e.idempotency_key.as_deref())
                        .bind(e.source.as_str())
                        .bind(&e.region);
                }
                inserted.extend(query.fetch_all(&mut *tx).await?);
            }
            // Conflicts only for events this transaction stored: one that a concurrent
            // writer stored first has its conflicts recorded there.
            plan.conflicts.retain(|c| inserted.contains(&c.event_id));
            for chunk in plan.conflicts.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO identity_conflicts (project_id, event_id, kind, value, identifier_contact, \
                     resolved_contact, created_at) VALUES {}",
                    row_placeholders(chunk.len(), 7)
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for c in chunk {
                    query = query
                        .bind(&c.project_id)
                        .bind(&c.event_id)
                        .bind(c.kind)
                        .bind(&c.value)
                        .bind(&c.identifier_contact)
                        .bind(&c.resolved_contact)
                        .bind(now);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;

            // Another writer stored some of these between our lookup and insert.
            for (index, _) in &plan.inserts {
                if !inserted.contains(&events[*index].id) {
                    plan.outcomes[*index] = WriteOutcome::Duplicate;
                }
            }
            Ok(plan.outcomes)
        }
    };
}

pub(crate) use write_batch_impl;
