//! Persistence: one [`Store`] over SQLite (embedded, the default) or PostgreSQL.
//!
//! `Store` is an enum of the two pools. Both backends accept `$1`-style parameters, so a
//! query is written once and run on whichever pool the store holds ([`on_pool!`] expands
//! the one body per backend, each against its concrete types). What differs — connection
//! set-up, migrations, the bulk inserts of the write path — lives in `sqlite.rs`,
//! `postgres.rs` and `write/`.
//!
//! * [`error`]: store errors and their classification (refused data vs. transient).
//! * [`rows`]: rows and list filters.
//! * `projects`, `sessions`, `events`, `outbox`, `dead_letters`, `catalog`, `figures`:
//!   queries per concern.
//! * [`write`]: storing a consumed batch in one transaction.

pub mod catalog;
mod dead_letters;
pub mod error;
mod events;
mod figures;
mod outbox;
mod postgres;
mod projects;
mod queues;
pub mod rows;
mod sessions;
mod sqlite;
mod waits;
pub mod write;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

pub use catalog::{CatalogFilter, CatalogRow};
pub use error::StoreError;
pub use queues::Queue;
pub use rows::*;
pub use waits::Transition;

use crate::config::DatabaseConfig;

/// The database: a pool of either backend.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite: one connection (one writer; no lock contention between our own).
    Sqlite(SqlitePool),
    /// PostgreSQL: a pool, for scale-out (several aggregators on one consumer).
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, once per backend: the body is
/// type-checked against each backend's concrete types, and written once.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Which backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:` URLs.
    Sqlite,
    /// `postgres:` / `postgresql:` URLs.
    Postgres,
}

impl Backend {
    /// The backend of a database URL.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

impl Store {
    /// Opens the configured database and applies pending migrations.
    pub async fn connect(config: &DatabaseConfig) -> Result<Store, StoreError> {
        let url = config
            .resolved_url()
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Self::open(&url, config).await
    }

    /// Opens `url` (settings from `config`) and applies pending migrations.
    pub async fn open(url: &str, config: &DatabaseConfig) -> Result<Store, StoreError> {
        let store = match Backend::of_url(url) {
            Some(Backend::Sqlite) => Store::Sqlite(sqlite::connect(url, config).await?),
            Some(Backend::Postgres) => Store::Postgres(postgres::connect(url, config).await?),
            None => return Err(StoreError::UnsupportedUrl),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(pool) => sqlite::MIGRATOR.run(pool).await?,
            Store::Postgres(pool) => postgres::MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// Closes the pool, waiting for checked-out connections.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }
}
