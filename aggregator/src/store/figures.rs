//! The backoffice's per-project figures, per hour: added to by every aggregator's flush
//! and by the agents' refusal reports, read back for the latency page.

use super::{FigureRow, Store, StoreError, on_pool};
use crate::figures::{self, Delta};

impl Store {
    /// Adds figures to the rows of `hour`, in one transaction. With `report` (an agent's
    /// report id), a report already added is skipped: `false`, nothing changed.
    pub async fn add_figures(
        &self,
        hour: i64,
        deltas: &[Delta],
        report: Option<&str>,
    ) -> Result<bool, StoreError> {
        const SEEN: &str =
            "INSERT INTO figure_reports (id, hour) VALUES ($1, $2) ON CONFLICT DO NOTHING";
        // The row exists before it is read under lock: two aggregators adding to a new row
        // at once then wait for each other instead of both inserting it.
        const ENSURE: &str = "INSERT INTO project_figures (project_id, hour, name, count, \
             sum_us, histogram) VALUES ($1, $2, $3, 0, 0, NULL) ON CONFLICT DO NOTHING";
        const WRITE: &str = "UPDATE project_figures SET count = $4, sum_us = $5, histogram = $6 \
             WHERE project_id = $1 AND hour = $2 AND name = $3";
        let read = match self {
            Store::Sqlite(_) => {
                "SELECT count, sum_us, histogram FROM project_figures \
                 WHERE project_id = $1 AND hour = $2 AND name = $3"
            }
            Store::Postgres(_) => {
                "SELECT count, sum_us, histogram FROM project_figures \
                 WHERE project_id = $1 AND hour = $2 AND name = $3 FOR UPDATE"
            }
        };
        Ok(on_pool!(self, |pool| {
            let mut tx = super::write::begin(pool).await?;
            if let Some(id) = report {
                let fresh = sqlx::query(SEEN)
                    .bind(id)
                    .bind(hour)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if fresh == 0 {
                    return Ok(false);
                }
            }
            for d in deltas {
                sqlx::query(ENSURE)
                    .bind(&d.project_id)
                    .bind(hour)
                    .bind(&d.name)
                    .execute(&mut *tx)
                    .await?;
                let (count, sum_us, histogram): (i64, i64, Option<String>) = sqlx::query_as(read)
                    .bind(&d.project_id)
                    .bind(hour)
                    .bind(&d.name)
                    .fetch_one(&mut *tx)
                    .await?;
                let histogram = d.buckets.as_ref().map(|buckets| {
                    figures::encode(&figures::merge(
                        &figures::decode(histogram.as_deref()),
                        buckets,
                    ))
                });
                sqlx::query(WRITE)
                    .bind(&d.project_id)
                    .bind(hour)
                    .bind(&d.name)
                    .bind(count.saturating_add(i64::try_from(d.count).unwrap_or(i64::MAX)))
                    .bind(sum_us.saturating_add(i64::try_from(d.sum_us).unwrap_or(i64::MAX)))
                    .bind(histogram)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            true
        }))
    }

    /// Every figure row of `hour` and later.
    pub async fn figures_since(&self, hour: i64) -> Result<Vec<FigureRow>, StoreError> {
        const SQL: &str = "SELECT project_id, hour, name, count, sum_us, histogram \
             FROM project_figures WHERE hour >= $1 ORDER BY project_id, hour, name";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(hour)
            .fetch_all(pool)
            .await?))
    }

    /// Removes figure rows (and report ids) of hours before `hour`; returns how many rows.
    pub async fn purge_figures(&self, hour: i64) -> Result<u64, StoreError> {
        const ROWS: &str = "DELETE FROM project_figures WHERE hour < $1";
        const REPORTS: &str = "DELETE FROM figure_reports WHERE hour < $1";
        Ok(on_pool!(self, |pool| {
            let rows = sqlx::query(ROWS).bind(hour).execute(pool).await?;
            sqlx::query(REPORTS).bind(hour).execute(pool).await?;
            rows.rows_affected()
        }))
    }
}
