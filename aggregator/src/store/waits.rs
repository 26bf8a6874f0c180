//! Waits: registration, reads, the queue of stored events to check against open waits,
//! and the conditional transitions that resolve a wait once (with its outcome in the outbox,
//! in the same transaction).

use uuid::Uuid;

use super::write::ROWS_PER_STATEMENT;
use super::{OutboxRow, Store, StoreError, WaitCandidate, WaitRow, on_pool};

/// One resolution to attempt: the wait as it becomes, and the outcome to publish.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The wait with its new status and times.
    pub wait: WaitRow,
    /// The outcome, published only if this transition wins.
    pub outcome: Option<OutboxRow>,
}

const CANDIDATE_COLUMNS: &str =
    "seq, id, project_id, event, contact_id, payload, received_at, occurred_at";

impl Store {
    /// Registers a wait; `false` when one with this id exists (nothing written).
    pub async fn insert_wait(&self, w: &WaitRow) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO waits (id, project_id, event, identity_type, \
             identity_value, match_json, after_at, timeout_at, metadata, request_hash, status, \
             resumed_at, timed_out_at, cancelled_at, event_id, event_occurred_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
             ON CONFLICT (id) DO NOTHING";
        Ok(on_pool!(self, |pool| sqlx::query(SQL)
            .bind(&w.id)
            .bind(&w.project_id)
            .bind(&w.event)
            .bind(&w.identity_type)
            .bind(&w.identity_value)
            .bind(&w.match_json)
            .bind(w.after_at)
            .bind(w.timeout_at)
            .bind(&w.metadata)
            .bind(&w.request_hash)
            .bind(&w.status)
            .bind(w.resumed_at)
            .bind(w.timed_out_at)
            .bind(w.cancelled_at)
            .bind(&w.event_id)
            .bind(w.event_occurred_at)
            .bind(w.created_at)
            .execute(pool)
            .await?
            .rows_affected()
            == 1))
    }

    /// One wait.
    pub async fn wait(&self, id: &str) -> Result<Option<WaitRow>, StoreError> {
        const SQL: &str = "SELECT * FROM waits WHERE id = $1";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// A project's open waits.
    pub async fn open_wait_count(&self, project_id: &str) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM waits WHERE project_id = $1 AND status = 'waiting'";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(SQL)
            .bind(project_id)
            .fetch_one(pool)
            .await?))
    }

    /// Whether any wait is open at all (most passes of the matcher stop here).
    pub async fn any_open_wait(&self) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT EXISTS (SELECT 1 FROM waits WHERE status = 'waiting')";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(SQL)
            .fetch_one(pool)
            .await?))
    }

    /// The open waits for an event name in a project registered with one of `values` (an
    /// email, an external id or a contact id; the caller checks the identifier's kind).
    pub async fn open_waits_for(
        &self,
        project_id: &str,
        event: &str,
        values: &[String],
    ) -> Result<Vec<WaitRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in values.chunks(ROWS_PER_STATEMENT / 2) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT * FROM waits WHERE project_id = $1 AND event = $2 \
                 AND identity_value IN ({list}) AND status = 'waiting'"
            );
            let rows: Vec<WaitRow> = on_pool!(self, |pool| {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(project_id)
                    .bind(event);
                for value in chunk {
                    query = query.bind(value);
                }
                query.fetch_all(pool).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Every identifier of these contacts: (contact, kind, value).
    pub async fn identifiers_of(
        &self,
        contacts: &[Uuid],
    ) -> Result<Vec<(Uuid, String, String)>, StoreError> {
        let mut out = Vec::new();
        for chunk in contacts.chunks(ROWS_PER_STATEMENT) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT contact_id, kind, value FROM contact_identifiers \
                 WHERE contact_id IN ({list})"
            );
            let rows: Vec<(Uuid, String, String)> = on_pool!(self, |pool| {
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
                for contact in chunk {
                    query = query.bind(*contact);
                }
                query.fetch_all(pool).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Open waits due at `before` (ms), earliest first.
    pub async fn due_waits(&self, before: i64, limit: i64) -> Result<Vec<WaitRow>, StoreError> {
        const SQL: &str = "SELECT * FROM waits WHERE status = 'waiting' AND timeout_at <= $1 \
             ORDER BY timeout_at LIMIT $2";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Queued batches of stored events to check, oldest first: (queue row, event ids).
    pub async fn wait_queue(&self, rows: i64) -> Result<Vec<(i64, Vec<Uuid>)>, StoreError> {
        self.queued(super::Queue::Waits, rows).await
    }

    /// Stored events by id, as wait matching sees them.
    pub async fn wait_candidates(&self, ids: &[Uuid]) -> Result<Vec<WaitCandidate>, StoreError> {
        self.events_by_id(CANDIDATE_COLUMNS, ids).await
    }

    /// A contact's stored events of one name received in `[after, before)`, earliest first
    /// (a new wait's look back).
    pub async fn contact_events(
        &self,
        project_id: &str,
        contact_id: Uuid,
        event: &str,
        after: i64,
        before: i64,
    ) -> Result<Vec<WaitCandidate>, StoreError> {
        let sql = format!(
            "SELECT {CANDIDATE_COLUMNS} FROM events WHERE contact_id = $1 AND project_id = $2 \
             AND event = $3 AND received_at >= $4 AND received_at < $5 \
             ORDER BY received_at, seq LIMIT 1000"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(contact_id)
        .bind(project_id)
        .bind(event)
        .bind(after)
        .bind(before)
        .fetch_all(pool)
        .await?))
    }

    /// Resolves waits that are still open, writes the winners' outcomes to the outbox and
    /// removes checked queue rows, in one transaction. Returns, per transition, whether it
    /// won (a wait resolved meanwhile, elsewhere, is left as it is).
    pub async fn resolve_waits(
        &self,
        transitions: &[Transition],
        queue_ids: &[i64],
    ) -> Result<Vec<bool>, StoreError> {
        const MOVE: &str = "UPDATE waits SET status = $1, resumed_at = $2, timed_out_at = $3, \
             cancelled_at = $4, event_id = $5, event_occurred_at = $6 \
             WHERE id = $7 AND status = 'waiting'";
        const OUTBOX: &str = "INSERT INTO outbox (id, project_id, subject, msg_id, payload, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
        const DEQUEUE: &str = "DELETE FROM wait_queue WHERE id = $1";
        Ok(on_pool!(self, |pool| {
            let mut tx = super::write::begin(pool).await?;
            let mut won = Vec::with_capacity(transitions.len());
            for t in transitions {
                let w = &t.wait;
                let moved = sqlx::query(MOVE)
                    .bind(&w.status)
                    .bind(w.resumed_at)
                    .bind(w.timed_out_at)
                    .bind(w.cancelled_at)
                    .bind(&w.event_id)
                    .bind(w.event_occurred_at)
                    .bind(&w.id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if moved && let Some(o) = &t.outcome {
                    sqlx::query(OUTBOX)
                        .bind(&o.id)
                        .bind(&o.project_id)
                        .bind(&o.subject)
                        .bind(&o.msg_id)
                        .bind(&o.payload)
                        .bind(o.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                won.push(moved);
            }
            for id in queue_ids {
                sqlx::query(DEQUEUE).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            won
        }))
    }

    /// Deletes a project's waits registered before `before` (ms); returns how many.
    pub async fn purge_waits(&self, project_id: &str, before: i64) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM waits WHERE project_id = $1 AND created_at < $2";
        Ok(on_pool!(self, |pool| sqlx::query(SQL)
            .bind(project_id)
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()))
    }
}
