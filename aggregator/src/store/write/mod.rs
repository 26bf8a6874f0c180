//! Storing a consumed batch in one transaction: look up, decide, write.
//!
//! The store knows how to find what a batch's identifiers name ([`Lookups`] → [`Found`])
//! and how to write rows ([`Writes`]); what to write is decided in between by the caller's
//! pure planner, inside the same transaction, so the decision sees one consistent
//! database. The I/O is a fixed number of statements per batch, whatever its size: SQLite
//! takes multi-row `VALUES`, PostgreSQL `UNNEST` over arrays (`sqlite.rs`, `postgres.rs`).

mod postgres;
mod sqlite;

use std::collections::{HashMap, HashSet};
use std::future::Future;

use sendrealm_common::event::Event;
use uuid::Uuid;

use super::{OutboxRow, Store, StoreError, on_pool};

/// Most rows per multi-row statement (SQLite allows 32 766 parameters; 15 columns × 1000).
pub const ROWS_PER_STATEMENT: usize = 1000;

/// An identifier of a contact: (project, kind, value).
pub type IdentifierKey = (String, &'static str, String);

/// What a batch needs looked up before it can be decided.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lookups {
    /// Contact ids the events name.
    pub contact_ids: Vec<Uuid>,
    /// Identifiers (external_id, email) the events carry, deduplicated.
    pub identifiers: Vec<IdentifierKey>,
}

/// What the lookups found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// Existing contacts among those named, with their project.
    pub contacts: HashMap<Uuid, String>,
    /// The contact each linked identifier names.
    pub owners: HashMap<IdentifierKey, Uuid>,
}

/// A contact to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// A UUIDv7.
    pub id: Uuid,
    /// Owning project.
    pub project_id: String,
}

/// An identifier to link to a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIdentifier {
    /// Project, kind and value.
    pub key: IdentifierKey,
    /// The contact it names.
    pub contact_id: Uuid,
}

/// An identity conflict to record (for an event this transaction stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConflict {
    /// The event that carried it.
    pub event_id: Uuid,
    /// The identifier (project, kind, value).
    pub key: IdentifierKey,
    /// The contact the identifier keeps naming.
    pub identifier_contact: Uuid,
    /// The contact the event was attached to.
    pub resolved_contact: Uuid,
}

/// An event to insert.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The event as consumed.
    pub event: &'a Event,
    /// Its id.
    pub id: Uuid,
    /// The contact it resolved to; `None` when its identity could not be resolved.
    pub contact_id: Option<Uuid>,
    /// The `contact_id` the sender gave.
    pub sent_contact_id: Option<Uuid>,
}

/// Everything a batch writes, decided before writing.
#[derive(Debug, Default, Clone)]
pub struct Writes<'a> {
    /// Contacts to create.
    pub contacts: Vec<NewContact>,
    /// Identifiers to link.
    pub identifiers: Vec<NewIdentifier>,
    /// Conflicts to record (kept only for events that are inserted).
    pub conflicts: Vec<NewConflict>,
    /// System events to emit.
    pub outbox: Vec<OutboxRow>,
    /// Events to insert; those stored before are skipped.
    pub events: Vec<NewEvent<'a>>,
    /// Whether the events stored are queued for the catalog (`catalog_queue`).
    pub catalog: bool,
}

/// What a batch write did.
#[derive(Debug)]
pub struct Written<T> {
    /// What the planner returned besides the writes.
    pub decided: T,
    /// Ids of the events this transaction inserted; the others were stored before.
    pub inserted: HashSet<Uuid>,
}

/// The statements of the write path, per backend.
pub(crate) trait Bulk: sqlx::Database {
    /// Starts the write transaction.
    fn begin(
        pool: &sqlx::Pool<Self>,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self>, sqlx::Error>> + Send;
    /// Runs the lookups.
    fn find(
        tx: &mut sqlx::Transaction<'static, Self>,
        lookups: &Lookups,
    ) -> impl Future<Output = Result<Found, sqlx::Error>> + Send;
    /// Writes everything; returns the ids of the events inserted.
    fn write(
        tx: &mut sqlx::Transaction<'static, Self>,
        writes: &Writes<'_>,
        now: i64,
    ) -> impl Future<Output = Result<HashSet<Uuid>, sqlx::Error>> + Send;
}

impl Store {
    /// Stores a batch in one transaction: runs `lookups`, lets `plan` decide from what they
    /// found (in the transaction, so nothing changes in between), writes its decision and
    /// commits. Events whose id is already stored are skipped: a redelivery or a re-send
    /// writes nothing.
    pub async fn write_batch<'a, T: Send>(
        &self,
        lookups: &Lookups,
        now: i64,
        plan: impl FnOnce(&Found) -> (Writes<'a>, T) + Send,
    ) -> Result<Written<T>, StoreError> {
        Ok(on_pool!(self, |pool| {
            let mut tx = Bulk::begin(pool).await?;
            let found = Bulk::find(&mut tx, lookups).await?;
            let (writes, decided) = plan(&found);
            let inserted = Bulk::write(&mut tx, &writes, now).await?;
            tx.commit().await?;
            Written { decided, inserted }
        }))
    }
}

/// Starts a write transaction on either backend (SQLite: holding the write lock).
pub(crate) async fn begin<DB: Bulk>(
    pool: &sqlx::Pool<DB>,
) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
    DB::begin(pool).await
}

/// A `catalog_queue` row: the ids of the events a batch inserted, 16 bytes each.
pub(crate) fn queued_ids(inserted: &HashSet<Uuid>) -> Vec<u8> {
    inserted.iter().flat_map(|id| *id.as_bytes()).collect()
}

/// Queues the inserted events for the catalog.
pub(crate) const ENQUEUE: &str =
    "INSERT INTO catalog_queue (event_ids, created_at) VALUES ($1, $2)";

/// Queues the inserted events for wait matching (always: a wait may be registered while
/// the batch is in flight).
pub(crate) const ENQUEUE_WAITS: &str =
    "INSERT INTO wait_queue (event_ids, created_at) VALUES ($1, $2)";

/// `($1,$2,$3),($4,$5,$6)…`: placeholders for `rows` rows of `cols` columns.
pub fn placeholders(rows: usize, cols: usize) -> String {
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

/// `(?,?,?),(?,?,?)…`: anonymous placeholders for SQLite's multi-row statements. SQLite
/// looks up a numbered parameter's name by a linear scan, so binding N `$n` parameters
/// costs O(N²): at 14 000 parameters that was most of a batch's time.
pub(crate) fn anonymous_placeholders(rows: usize, cols: usize) -> String {
    let mut row = String::with_capacity(cols * 2 + 1);
    row.push('(');
    for c in 0..cols {
        if c > 0 {
            row.push(',');
        }
        row.push('?');
    }
    row.push(')');
    let mut out = String::with_capacity(rows * (row.len() + 1));
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push_str(&row);
    }
    out
}

/// The kind names stored, as the `&'static str` an [`IdentifierKey`] holds.
fn kind_of(stored: &str) -> &'static str {
    match stored {
        "email" => "email",
        _ => "external_id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(placeholders(2, 3), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(placeholders(1, 1), "($1)");
        assert_eq!(anonymous_placeholders(2, 2), "(?,?),(?,?)");
    }
}
