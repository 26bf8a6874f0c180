//! What the catalog folder and the wait matcher share: queues of stored batches (one row
//! per batch, the 16-byte ids of its events concatenated) and reading those events back.

use uuid::Uuid;

use super::write::{ROWS_PER_STATEMENT, anonymous_placeholders};
use super::{Store, StoreError, on_pool};

/// A queue the write path fills with every stored batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// `catalog_queue`: batches not folded into the catalog yet.
    Catalog,
    /// `wait_queue`: batches not checked against open waits yet.
    Waits,
}

impl Store {
    /// Queued batches, oldest first: (queue row, event ids).
    pub async fn queued(
        &self,
        queue: Queue,
        rows: i64,
    ) -> Result<Vec<(i64, Vec<Uuid>)>, StoreError> {
        let sql = match queue {
            Queue::Catalog => "SELECT id, event_ids FROM catalog_queue ORDER BY id LIMIT $1",
            Queue::Waits => "SELECT id, event_ids FROM wait_queue ORDER BY id LIMIT $1",
        };
        let rows: Vec<(i64, Vec<u8>)> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(rows)
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|(id, bytes)| {
                let ids = bytes
                    .chunks_exact(16)
                    .filter_map(|chunk| Uuid::from_slice(chunk).ok())
                    .collect();
                (id, ids)
            })
            .collect())
    }

    /// `columns` of the stored events with these ids (those purged since are gone), in no
    /// particular order.
    pub(super) async fn events_by_id<T>(
        &self,
        columns: &str,
        ids: &[Uuid],
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let mut out = Vec::with_capacity(ids.len());
        match self {
            Store::Sqlite(pool) => {
                for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                    let sql = format!(
                        "SELECT {columns} FROM events WHERE id IN {}",
                        anonymous_placeholders(1, chunk.len())
                    );
                    let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query.bind(*id);
                    }
                    out.extend(query.fetch_all(pool).await?);
                }
            }
            Store::Postgres(pool) => {
                let sql = format!("SELECT {columns} FROM events WHERE id = ANY($1)");
                out = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql))
                    .bind(ids)
                    .fetch_all(pool)
                    .await?;
            }
        }
        Ok(out)
    }
}
