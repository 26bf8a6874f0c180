//! The SQLite store: the embedded default. WAL journal, one connection (SQLite has one
//! writer anyway; a single connection avoids busy-lock retries between our own).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::write::write_batch_impl;
use super::{Store, StoreError, insert_key_fn, shared_queries};
use crate::config::SqliteSync;

/// A SQLite-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

insert_key_fn!(sqlx::Sqlite);

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn connect(url: &str, sync: SqliteSync) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Messages are acked after the commit: only FULL keeps an acked event through
            // a power loss (docs/durability.md). NORMAL is the faster, weaker choice.
            .synchronous(match sync {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }
}

impl SqliteStore {
    /// Starts a write transaction.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        // IMMEDIATE takes the write lock up front: lookups and inserts then see one
        // consistent database even when several processes share the file.
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

impl Store for SqliteStore {
    shared_queries!();
    write_batch_impl!();
}
