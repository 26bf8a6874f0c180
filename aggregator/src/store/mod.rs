//! Persistence: one [`Store`] interface, two implementations (SQLite, PostgreSQL).
//!
//! Both backends accept `$1`-style parameters, so statements that are the same on both are
//! written once in [`shared_queries!`] and expanded into each implementation; what differs
//! (connection set-up, migrations, bulk inserts) lives in `sqlite.rs` and `postgres.rs`.
//! Times are Unix milliseconds in BIGINT columns on both backends.

pub mod postgres;
pub mod sqlite;
pub mod write;

use std::future::Future;

use sqlx::FromRow;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use write::WriteOutcome;

use crate::emit::SystemEvents;
use sendrealm_common::event::Event;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write.
    #[error("conflict on {constraint}")]
    Conflict {
        /// The constraint (or column list, on SQLite).
        constraint: String,
    },
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// The database cannot be reached or timed out: worth retrying.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                constraint: db
                    .constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| db.message().to_owned()),
            },
            sqlx::Error::Database(db) => match classify(db.code().as_deref()) {
                Class::Race => StoreError::Conflict {
                    constraint: db.message().to_owned(),
                },
                Class::Refused => StoreError::Database(error.to_string()),
                Class::Transient => StoreError::Unavailable(error.to_string()),
            },
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Database(error.to_string()),
        }
    }
}

/// What a database error code means for the event that caused it.
enum Class {
    /// Concurrent writers collided: retry the batch at once.
    Race,
    /// The data itself is refused: retrying cannot help (the event is dead-lettered).
    Refused,
    /// The database is unwell (down, busy, timing out, failing over): retry later.
    Transient,
}

/// Only data and constraint errors refuse an event; anything else is the database's
/// condition and is retried, so a bad minute never dead-letters healthy events.
fn classify(code: Option<&str>) -> Class {
    let Some(code) = code else {
        return Class::Transient;
    };
    if code == "40001" || code == "40P01" {
        return Class::Race;
    }
    match code.parse::<u32>() {
        // SQLite: the primary result code is the low byte. Constraint (19), mismatch (20),
        // too big (18), range (25) are about the data.
        Ok(extended) => match extended & 0xff {
            18 | 19 | 20 | 25 => Class::Refused,
            _ => Class::Transient,
        },
        // PostgreSQL SQLSTATE: class 22 (data exception) and 23 (integrity constraint).
        Err(_) if code.starts_with("22") || code.starts_with("23") => Class::Refused,
        Err(_) => Class::Transient,
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(error.to_string())
    }
}

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ProjectRow {
    /// `proj_…`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Largest accepted payload.
    pub event_payload_limit_bytes: i64,
    /// Sustained events per second.
    pub rate_limit_per_sec: i64,
    /// Burst size.
    pub rate_limit_burst: i64,
    /// Retention, seconds from receipt.
    pub retention_secs: i64,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// An API key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ApiKeyRow {
    /// `key_…`.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Revocation time (ms), if revoked.
    pub revoked_at: Option<i64>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct EventRow {
    /// Row order (time-ordered, for cursors).
    pub seq: i64,
    /// A UUID (see `sendrealm_common::id`).
    pub id: String,
    /// Project.
    pub project_id: String,
    /// Event name.
    pub event: String,
    /// The contact it resolved to.
    pub contact_id: String,
    /// The `contact_id` the sender gave, if any.
    pub sent_contact_id: Option<String>,
    /// The sender's `external_id`.
    pub external_id: Option<String>,
    /// The normalised email.
    pub email: Option<String>,
    /// Payload JSON as sent.
    pub payload: String,
    /// When it happened (ms).
    pub occurred_at: i64,
    /// When the agent received it (ms).
    pub received_at: i64,
    /// When it was committed here (ms).
    pub stored_at: i64,
    /// The idempotency key.
    pub idempotency_key: Option<String>,
    /// `api` or `system`.
    pub source: String,
    /// Accepting region.
    pub region: String,
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ContactRow {
    /// A UUIDv7.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// One identifier of a contact.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct IdentifierRow {
    /// `external_id` or `email`.
    pub kind: String,
    /// The value.
    pub value: String,
    /// When it was linked (ms).
    pub created_at: i64,
}

/// A system event waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OutboxRow {
    /// The system event's id.
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Subject to publish on.
    pub subject: String,
    /// `Nats-Msg-Id`.
    pub msg_id: String,
    /// The event object JSON.
    pub payload: String,
    /// When it was written (ms).
    pub created_at: i64,
}

/// A dead letter: an event that could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DeadLetterRow {
    /// `dlq_…`.
    pub id: String,
    /// The stream the original was in.
    pub stream: String,
    /// Its sequence there.
    pub stream_seq: i64,
    /// Its project (`_unknown` when it could not be read).
    pub project_id: String,
    /// Its subject.
    pub subject: String,
    /// Its `Nats-Msg-Id`.
    pub msg_id: Option<String>,
    /// Its headers, as a JSON object of arrays.
    pub headers: String,
    /// Its body (UTF-8, or base64 when `payload_base64`); `None` when it was gone.
    pub payload: Option<String>,
    /// Whether `payload` is base64.
    pub payload_base64: bool,
    /// The original had already been removed (retention) when the record was made.
    pub original_missing: bool,
    /// `terminated` or `max_deliveries`.
    pub reason: String,
    /// The processing error.
    pub error: String,
    /// Deliveries when it was given up on.
    pub deliveries: i64,
    /// First failure (ms).
    pub first_failed_at: i64,
    /// Last failure (ms).
    pub last_failed_at: i64,
    /// When the record was made (ms).
    pub created_at: i64,
    /// When it was last replayed (ms).
    pub replayed_at: Option<i64>,
    /// How often it was replayed.
    pub replay_count: i64,
}

/// Which dead letters to list.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Only this project.
    pub project_id: Option<String>,
    /// Only this reason.
    pub reason: Option<String>,
    /// Only records made at or after this time (ms).
    pub since: Option<i64>,
    /// Only records not replayed yet.
    pub pending_only: bool,
    /// At most this many.
    pub limit: i64,
}

/// Dead letters of one project.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DlqCount {
    /// Project.
    pub project_id: String,
    /// Records not replayed.
    pub pending: i64,
    /// Records replayed.
    pub replayed: i64,
    /// Creation time of the oldest pending record (ms).
    pub oldest_pending_at: Option<i64>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this project (`None`: all, for admins).
    pub project_id: Option<String>,
    /// Only events of this contact.
    pub contact_id: Option<String>,
    /// Only this event name.
    pub event: Option<String>,
    /// Only rows older than this `seq` (the cursor).
    pub before_seq: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// Everything the aggregator stores.
pub trait Store: Clone + Send + Sync + 'static {
    /// Applies pending migrations.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Closes the pool, waiting for checked-out connections.
    fn close(&self) -> impl Future<Output = ()> + Send;
    /// Creates a project with its first key, atomically.
    fn insert_project(
        &self,
        project: &ProjectRow,
        key: &ApiKeyRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// All projects, oldest first.
    fn projects(&self) -> impl Future<Output = Result<Vec<ProjectRow>, StoreError>> + Send;
    /// One project.
    fn project(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ProjectRow>, StoreError>> + Send;
    /// Writes a project's settings; `NotFound` if it does not exist.
    fn update_project(
        &self,
        project: &ProjectRow,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Adds a key to a project.
    fn insert_key(&self, key: &ApiKeyRow) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A project's keys, newest first, revoked ones included.
    fn keys(
        &self,
        project_id: &str,
    ) -> impl Future<Output = Result<Vec<ApiKeyRow>, StoreError>> + Send;
    /// Revokes the project's active keys other than `keep` (all when `None`), or only
    /// `only` when given. Returns how many were revoked.
    fn revoke_keys(
        &self,
        project_id: &str,
        only: Option<&str>,
        keep: Option<&str>,
        at: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// The project an active API key (by hash) belongs to.
    fn project_of_key(
        &self,
        key_hash: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Stores a batch of consumed events in one transaction: duplicates are skipped,
    /// identities resolved, contacts created (with their system events in the outbox).
    fn write_batch(
        &self,
        events: &[Event],
        system: &SystemEvents,
        now: i64,
    ) -> impl Future<Output = Result<Vec<WriteOutcome>, StoreError>> + Send;
    /// Events matching a filter, newest first.
    fn events(
        &self,
        filter: &EventFilter,
    ) -> impl Future<Output = Result<Vec<EventRow>, StoreError>> + Send;
    /// One event by id.
    fn event(&self, id: &str) -> impl Future<Output = Result<Option<EventRow>, StoreError>> + Send;
    /// One contact by id.
    fn contact(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ContactRow>, StoreError>> + Send;
    /// A contact's identifiers.
    fn identifiers(
        &self,
        contact_id: &str,
    ) -> impl Future<Output = Result<Vec<IdentifierRow>, StoreError>> + Send;
    /// The contact an identifier names in a project.
    fn contact_for(
        &self,
        project_id: &str,
        kind: &str,
        value: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Deletes up to `limit` of a project's events received before `before` (ms).
    fn purge_events(
        &self,
        project_id: &str,
        before: i64,
        limit: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Pending system events, oldest first.
    fn outbox(&self, limit: i64)
    -> impl Future<Output = Result<Vec<OutboxRow>, StoreError>> + Send;
    /// Removes published system events.
    fn delete_outbox(&self, ids: &[String]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether the database answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records a dead letter; `false` when one exists already for that stream message.
    fn insert_dead_letter(
        &self,
        row: &DeadLetterRow,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// One dead letter by id.
    fn dead_letter(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<DeadLetterRow>, StoreError>> + Send;
    /// The dead letter of a stream message.
    fn dead_letter_of(
        &self,
        stream: &str,
        stream_seq: i64,
    ) -> impl Future<Output = Result<Option<DeadLetterRow>, StoreError>> + Send;
    /// Dead letters matching a filter, oldest first.
    fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
    ) -> impl Future<Output = Result<Vec<DeadLetterRow>, StoreError>> + Send;
    /// Marks a dead letter replayed.
    fn mark_replayed(
        &self,
        id: &str,
        at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes dead letters of a project (all when `None`), only replayed ones if asked.
    fn purge_dead_letters(
        &self,
        project_id: Option<&str>,
        replayed_only: bool,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Dead-letter counts per project.
    fn dlq_counts(&self) -> impl Future<Output = Result<Vec<DlqCount>, StoreError>> + Send;
}

/// Implements the [`Store`] methods whose SQL is the same on both backends. Expanded inside
/// each `impl Store for …` block; `self.pool` is that backend's pool and `MIGRATOR` its
/// migrations.
macro_rules! shared_queries {
    () => {
        async fn migrate(&self) -> Result<(), $crate::store::StoreError> {
            MIGRATOR.run(&self.pool).await?;
            Ok(())
        }

        async fn close(&self) {
            self.pool.close().await;
        }

        async fn insert_project(
            &self,
            project: &$crate::store::ProjectRow,
            key: &$crate::store::ApiKeyRow,
        ) -> Result<(), $crate::store::StoreError> {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO projects (id, name, event_payload_limit_bytes, rate_limit_per_sec, \
                 rate_limit_burst, retention_secs, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&project.id)
            .bind(&project.name)
            .bind(project.event_payload_limit_bytes)
            .bind(project.rate_limit_per_sec)
            .bind(project.rate_limit_burst)
            .bind(project.retention_secs)
            .bind(project.created_at)
            .bind(project.updated_at)
            .execute(&mut *tx)
            .await?;
            insert_key_with(&mut *tx, key).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn projects(&self) -> Result<Vec<$crate::store::ProjectRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as("SELECT * FROM projects ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?)
        }

        async fn project(
            &self,
            id: &str,
        ) -> Result<Option<$crate::store::ProjectRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as("SELECT * FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn update_project(
            &self,
            project: &$crate::store::ProjectRow,
        ) -> Result<(), $crate::store::StoreError> {
            let done = sqlx::query(
                "UPDATE projects SET name = $1, event_payload_limit_bytes = $2, \
                 rate_limit_per_sec = $3, rate_limit_burst = $4, retention_secs = $5, \
                 updated_at = $6 WHERE id = $7",
            )
            .bind(&project.name)
            .bind(project.event_payload_limit_bytes)
            .bind(project.rate_limit_per_sec)
            .bind(project.rate_limit_burst)
            .bind(project.retention_secs)
            .bind(project.updated_at)
            .bind(&project.id)
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err($crate::store::StoreError::NotFound);
            }
            Ok(())
        }

        async fn insert_key(
            &self,
            key: &$crate::store::ApiKeyRow,
        ) -> Result<(), $crate::store::StoreError> {
            insert_key_with(&self.pool, key).await
        }

        async fn keys(
            &self,
            project_id: &str,
        ) -> Result<Vec<$crate::store::ApiKeyRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as(
                "SELECT * FROM api_keys WHERE project_id = $1 ORDER BY created_at DESC, id",
            )
            .bind(project_id)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn revoke_keys(
            &self,
            project_id: &str,
            only: Option<&str>,
            keep: Option<&str>,
            at: i64,
        ) -> Result<u64, $crate::store::StoreError> {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE project_id = $2 \
                 AND revoked_at IS NULL AND ($3 IS NULL OR id = $3) AND ($4 IS NULL OR id <> $4)",
            )
            .bind(at)
            .bind(project_id)
            .bind(only)
            .bind(keep)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        }

        async fn project_of_key(&self, key_hash: &str) -> Result<Option<String>, $crate::store::StoreError> {
            Ok(sqlx::query_scalar(
                "SELECT project_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            )
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn events(
            &self,
            filter: &$crate::store::EventFilter,
        ) -> Result<Vec<$crate::store::EventRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as(
                "SELECT * FROM events WHERE ($1 IS NULL OR project_id = $1)                  AND ($2 IS NULL OR contact_id = $2) AND ($3 IS NULL OR event = $3)                  AND ($4 IS NULL OR seq < $4) ORDER BY seq DESC LIMIT $5",
            )
            .bind(filter.project_id.as_deref())
            .bind(filter.contact_id.as_deref())
            .bind(filter.event.as_deref())
            .bind(filter.before_seq)
            .bind(filter.limit)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn event(&self, id: &str) -> Result<Option<$crate::store::EventRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as("SELECT * FROM events WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn contact(&self, id: &str) -> Result<Option<$crate::store::ContactRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as("SELECT * FROM contacts WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn identifiers(
            &self,
            contact_id: &str,
        ) -> Result<Vec<$crate::store::IdentifierRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as(
                "SELECT kind, value, created_at FROM contact_identifiers WHERE contact_id = $1                  ORDER BY created_at, kind, value",
            )
            .bind(contact_id)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn contact_for(
            &self,
            project_id: &str,
            kind: &str,
            value: &str,
        ) -> Result<Option<String>, $crate::store::StoreError> {
            Ok(sqlx::query_scalar(
                "SELECT contact_id FROM contact_identifiers WHERE project_id = $1 AND kind = $2 AND value = $3",
            )
            .bind(project_id)
            .bind(kind)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn purge_events(
            &self,
            project_id: &str,
            before: i64,
            limit: i64,
        ) -> Result<u64, $crate::store::StoreError> {
            let done = sqlx::query(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE project_id = $1                  AND received_at < $2 LIMIT $3)",
            )
            .bind(project_id)
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        }

        async fn outbox(&self, limit: i64) -> Result<Vec<$crate::store::OutboxRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as("SELECT * FROM outbox ORDER BY created_at, id LIMIT $1")
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn delete_outbox(&self, ids: &[String]) -> Result<(), $crate::store::StoreError> {
            for chunk in ids.chunks($crate::store::write::ROWS_PER_STATEMENT) {
                let sql = format!(
                    "DELETE FROM outbox WHERE id IN {}",
                    $crate::store::write::row_placeholders(1, chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id);
                }
                query.execute(&self.pool).await?;
            }
            Ok(())
        }

        async fn ping(&self) -> Result<(), $crate::store::StoreError> {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        }

        async fn insert_dead_letter(&self, r: &$crate::store::DeadLetterRow) -> Result<bool, $crate::store::StoreError> {
            let done = sqlx::query(
                "INSERT INTO dead_letters (id, stream, stream_seq, project_id, subject, msg_id, headers, payload, \
                 payload_base64, original_missing, reason, error, deliveries, first_failed_at, last_failed_at, \
                 created_at, replayed_at, replay_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&r.id)
            .bind(&r.stream)
            .bind(r.stream_seq)
            .bind(&r.project_id)
            .bind(&r.subject)
            .bind(r.msg_id.as_deref())
            .bind(&r.headers)
            .bind(r.payload.as_deref())
            .bind(r.payload_base64)
            .bind(r.original_missing)
            .bind(&r.reason)
            .bind(&r.error)
            .bind(r.deliveries)
            .bind(r.first_failed_at)
            .bind(r.last_failed_at)
            .bind(r.created_at)
            .bind(r.replayed_at)
            .bind(r.replay_count)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        async fn dead_letter(&self, id: &str) -> Result<Option<$crate::store::DeadLetterRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as("SELECT * FROM dead_letters WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn dead_letter_of(
            &self,
            stream: &str,
            stream_seq: i64,
        ) -> Result<Option<$crate::store::DeadLetterRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as("SELECT * FROM dead_letters WHERE stream = $1 AND stream_seq = $2")
                .bind(stream)
                .bind(stream_seq)
                .fetch_optional(&self.pool)
                .await?)
        }

        async fn dead_letters(
            &self,
            f: &$crate::store::DeadLetterFilter,
        ) -> Result<Vec<$crate::store::DeadLetterRow>, $crate::store::StoreError> {
            Ok(sqlx::query_as(
                "SELECT * FROM dead_letters WHERE ($1 IS NULL OR project_id = $1) AND ($2 IS NULL OR reason = $2) \
                 AND ($3 IS NULL OR created_at >= $3) AND ($4 = FALSE OR replayed_at IS NULL) \
                 ORDER BY created_at, id LIMIT $5",
            )
            .bind(f.project_id.as_deref())
            .bind(f.reason.as_deref())
            .bind(f.since)
            .bind(f.pending_only)
            .bind(f.limit)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn mark_replayed(&self, id: &str, at: i64) -> Result<(), $crate::store::StoreError> {
            sqlx::query("UPDATE dead_letters SET replayed_at = $1, replay_count = replay_count + 1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn purge_dead_letters(
            &self,
            project_id: Option<&str>,
            replayed_only: bool,
        ) -> Result<u64, $crate::store::StoreError> {
            let done = sqlx::query(
                "DELETE FROM dead_letters WHERE ($1 IS NULL OR project_id = $1) \
                 AND ($2 = FALSE OR replayed_at IS NOT NULL)",
            )
            .bind(project_id)
            .bind(replayed_only)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected())
        }

        async fn dlq_counts(&self) -> Result<Vec<$crate::store::DlqCount>, $crate::store::StoreError> {
            Ok(sqlx::query_as(
                "SELECT project_id, \
                 SUM(CASE WHEN replayed_at IS NULL THEN 1 ELSE 0 END) AS pending, \
                 SUM(CASE WHEN replayed_at IS NULL THEN 0 ELSE 1 END) AS replayed, \
                 MIN(CASE WHEN replayed_at IS NULL THEN created_at END) AS oldest_pending_at \
                 FROM dead_letters GROUP BY project_id ORDER BY project_id",
            )
            .fetch_all(&self.pool)
            .await?)
        }
    };
}

/// Inserts a key with any executor (pool or transaction) of either backend.
macro_rules! insert_key_fn {
    ($db:ty) => {
        async fn insert_key_with<'e, E>(
            executor: E,
            key: &$crate::store::ApiKeyRow,
        ) -> Result<(), $crate::store::StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO api_keys (id, project_id, key_hash, prefix, created_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key.id)
            .bind(&key.project_id)
            .bind(&key.key_hash)
            .bind(&key.prefix)
            .bind(key.created_at)
            .bind(key.revoked_at)
            .execute(executor)
            .await?;
            Ok(())
        }
    };
}

pub(crate) use insert_key_fn;
pub(crate) use shared_queries;

/// Which backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` URLs.
    Sqlite,
    /// `postgres:` / `postgresql:` URLs.
    Postgres,
}

impl Backend {
    /// The backend of a database URL.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Opens the configured store (migrating it) and evaluates `$body` with `$store` bound to
/// the concrete implementation, so generic code is monomorphised per backend.
#[macro_export]
macro_rules! with_store {
    ($config:expr, |$store:ident| $body:expr) => {{
        let url = $config.resolved_url().map_err(anyhow::Error::from)?;
        match $crate::store::Backend::of_url(&url) {
            Some($crate::store::Backend::Sqlite) => {
                let $store =
                    $crate::store::SqliteStore::connect(&url, $config.sqlite_synchronous).await?;
                $body
            }
            Some($crate::store::Backend::Postgres) => {
                let $store = $crate::store::PgStore::connect(&url, $config.max_connections).await?;
                $body
            }
            None => anyhow::bail!("unsupported database URL (use sqlite: or postgres:)"),
        }
    }};
}
