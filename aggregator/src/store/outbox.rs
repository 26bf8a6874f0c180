//! The system-event outbox: rows written with their cause, removed once published.

use super::write::{ROWS_PER_STATEMENT, placeholders};
use super::{OutboxRow, Store, StoreError, on_pool};

impl Store {
    /// Pending system events, oldest first.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        const SQL: &str = "SELECT * FROM outbox ORDER BY created_at, id LIMIT $1";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Removes published system events.
    pub async fn delete_outbox(&self, ids: &[String]) -> Result<(), StoreError> {
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "DELETE FROM outbox WHERE id IN {}",
                placeholders(1, chunk.len())
            );
            on_pool!(self, |pool| {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id);
                }
                query.execute(pool).await?;
            });
        }
        Ok(())
    }
}
