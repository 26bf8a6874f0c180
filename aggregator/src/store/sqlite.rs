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

/// WAL pages after which a commit checkpoints by itself: a backstop only, as the
/// checkpointer keeps the WAL well below it.
const AUTOCHECKPOINT_PAGES: u32 = 20_000;
/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Opens (creating if needed) the database at `url`, with a checkpointer beside it.
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
        // A multi-row insert keeps a statement journal (to undo itself on a constraint
        // error); in a temp file that was a tenth of the write path's CPU.
        .pragma("temp_store", "memory")
        .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES.to_string())
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await?;
    tokio::spawn(checkpoint(options, pool.clone()));
    Ok(pool)
}

/// Checkpoints the WAL from a connection of its own, so the copy back into the database
/// (thousands of pages under load) happens beside the writer instead of inside whichever
/// commit crosses the autocheckpoint threshold. PASSIVE never blocks the writer. Stops
/// when the pool is closed.
async fn checkpoint(options: SqliteConnectOptions, pool: SqlitePool) {
    use sqlx::Connection as _;
    let mut connection: Option<sqlx::SqliteConnection> = None;
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if pool.is_closed() {
            if let Some(connection) = connection.take() {
                let _ = connection.close().await;
            }
            return;
        }
        if connection.is_none() {
            connection = sqlx::SqliteConnection::connect_with(&options).await.ok();
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut *conn)
            .await
        {
            tracing::debug!(%error, "WAL checkpoint failed; retrying with a new connection.");
            connection = None;
        }
    }
}

/// Starts a write transaction. IMMEDIATE takes the write lock up front: lookups and
/// inserts then see one consistent database even when several processes share the file.
pub(super) async fn begin_write(
    pool: &SqlitePool,
) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}
