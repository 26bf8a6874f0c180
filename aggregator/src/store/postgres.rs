//! The PostgreSQL store: for scale-out (several aggregators on one consumer).

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use super::write::write_batch_impl;
use super::{Store, StoreError, insert_key_fn, shared_queries};

/// A PostgreSQL-backed store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

insert_key_fn!(sqlx::Postgres);

impl PgStore {
    /// Connects to `url` with a pool of `max_connections` and applies migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }
}

impl PgStore {
    /// Starts a write transaction.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        // Read committed: a concurrent writer that links the same identifier makes our
        // insert fail on the unique key, and the caller retries the batch.
        self.pool.begin().await
    }
}

impl Store for PgStore {
    shared_queries!();
    write_batch_impl!();
}
