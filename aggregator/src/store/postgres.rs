//! PostgreSQL: for scale-out (several aggregators on one consumer, a shared database).

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::StoreError;
use crate::config::DatabaseConfig;

/// The PostgreSQL migrations.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Connects to `url` with a pool of `max_connections`.
pub(super) async fn connect(url: &str, config: &DatabaseConfig) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?)
}

/// Starts a write transaction. Read committed: a concurrent writer that links the same
/// identifier makes our insert fail on the unique key, and the caller retries the batch.
pub(super) async fn begin_write(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin().await
}
