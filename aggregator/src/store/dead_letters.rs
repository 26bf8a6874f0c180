//! Dead letters: one record per original stream message, with why and whether replayed.

use super::{DeadLetterFilter, DeadLetterRow, DlqCount, Store, StoreError, on_pool};

impl Store {
    /// Records a dead letter; `false` when one exists already for that stream message.
    pub async fn insert_dead_letter(&self, r: &DeadLetterRow) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO dead_letters (id, stream, stream_seq, project_id, subject, \
             msg_id, headers, payload, payload_base64, original_missing, reason, error, \
             deliveries, first_failed_at, last_failed_at, created_at, replayed_at, replay_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18) ON CONFLICT DO NOTHING";
        let inserted = on_pool!(self, |pool| sqlx::query(SQL)
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
            .execute(pool)
            .await?
            .rows_affected());
        Ok(inserted == 1)
    }

    /// One dead letter by id.
    pub async fn dead_letter(&self, id: &str) -> Result<Option<DeadLetterRow>, StoreError> {
        const SQL: &str = "SELECT * FROM dead_letters WHERE id = $1";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// The dead letter of an original stream message, if any.
    pub async fn dead_letter_of(
        &self,
        stream: &str,
        stream_seq: i64,
    ) -> Result<Option<DeadLetterRow>, StoreError> {
        const SQL: &str = "SELECT * FROM dead_letters WHERE stream = $1 AND stream_seq = $2";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(stream)
            .bind(stream_seq)
            .fetch_optional(pool)
            .await?))
    }

    /// Dead letters matching a filter, oldest first.
    pub async fn dead_letters(
        &self,
        f: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetterRow>, StoreError> {
        const SQL: &str = "SELECT * FROM dead_letters WHERE ($1 IS NULL OR project_id = $1) \
             AND ($2 IS NULL OR reason = $2) AND ($3 IS NULL OR created_at >= $3) \
             AND ($4 = FALSE OR replayed_at IS NULL) ORDER BY created_at, id LIMIT $5";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(f.project_id.as_deref())
            .bind(f.reason.as_deref())
            .bind(f.since)
            .bind(f.pending_only)
            .bind(f.limit)
            .fetch_all(pool)
            .await?))
    }

    /// Notes a replay of a dead letter.
    pub async fn mark_replayed(&self, id: &str, at: i64) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE dead_letters SET replayed_at = $1, \
             replay_count = replay_count + 1 WHERE id = $2";
        on_pool!(self, |pool| {
            sqlx::query(SQL).bind(at).bind(id).execute(pool).await?;
        });
        Ok(())
    }

    /// Deletes dead letters of a project (all when `None`), only replayed ones if asked.
    pub async fn purge_dead_letters(
        &self,
        project_id: Option<&str>,
        replayed_only: bool,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM dead_letters WHERE ($1 IS NULL OR project_id = $1) \
             AND ($2 = FALSE OR replayed_at IS NOT NULL)";
        Ok(on_pool!(self, |pool| sqlx::query(SQL)
            .bind(project_id)
            .bind(replayed_only)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// Dead-letter counts per project.
    pub async fn dlq_counts(&self) -> Result<Vec<DlqCount>, StoreError> {
        const SQL: &str = "SELECT project_id, \
             SUM(CASE WHEN replayed_at IS NULL THEN 1 ELSE 0 END) AS pending, \
             SUM(CASE WHEN replayed_at IS NULL THEN 0 ELSE 1 END) AS replayed, \
             MIN(CASE WHEN replayed_at IS NULL THEN created_at END) AS oldest_pending_at \
             FROM dead_letters GROUP BY project_id ORDER BY project_id";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await?))
    }
}
