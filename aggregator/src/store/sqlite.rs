//! SQLite: the embedded default. WAL journal, one connection (SQLite has one writer anyway;
//! a single connection avoids busy-lock retries between our own).

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::StoreError;
use crate::config::{DatabaseConfig, SqliteSync};

/// The SQLite migrations.
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Page cache per connection, in KiB (negative: KiB rather than pages). The write path
/// touches one page per index per scattered key; the default 2 MiB cache re-reads them.
const CACHE_KIB: i64 = 64 * 1024;

/// Opens (creating if needed) the database at `url`.
pub(super) async fn connect(url: &str, config: &DatabaseConfig) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Messages are acked after the commit: only FULL keeps an acked event through a
        // power loss (docs/durability.md). NORMAL is the faster, weaker choice.
        .synchronous(match config.sqlite_synchronous {
            SqliteSync::Full => SqliteSynchronous::Full,
            SqliteSync::Normal => SqliteSynchronous::Normal,
        })
        .pragma("cache_size", format!("-{CACHE_KIB}"))
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// Starts a write transaction. IMMEDIATE takes the write lock up front: lookups and
/// inserts then see one consistent database even when several processes share the file.
pub(super) async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}
