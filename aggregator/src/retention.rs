//! Retention in the database: a periodic purge of events older than their project's
//! window, counted from receipt. (In JetStream each event carries the same window as its
//! per-message TTL.)
//!
//! The catalog's redacted examples (and the examples of its drift records) follow the
//! same window: an entry keeps its schema and counts, not examples of expired events.
//!
//! Deletes go in small batches with a pause between them, so ingest keeps its turn at the
//! database (SQLite has one writer).

use std::sync::Arc;
use std::time::Duration;

use sendrealm_common::event::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::config::RetentionConfig;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// How long the backoffice's hourly figures are kept (ms).
const FIGURES_KEPT_MS: i64 = 31 * 86_400_000;

/// Pause between two delete batches.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// Deletes every expired event (and ended session) once; returns how many events.
pub async fn purge_once(store: &Store, batch: i64, now: i64) -> Result<u64, StoreError> {
    let mut total = 0;
    for project in store.projects().await? {
        let before = now.saturating_sub(project.retention_secs.saturating_mul(1000));
        loop {
            let deleted = store.purge_events(&project.id, before, batch).await?;
            total += deleted;
            if deleted < batch as u64 {
                break;
            }
            tokio::time::sleep(BETWEEN_BATCHES).await;
        }
        // Waits go with the events: a wait lasts at most the retention, so these are done.
        store.purge_waits(&project.id, before).await?;
        for key in store.catalog_keys(&project.id).await? {
            // Look first without the write lock: most entries have nothing expired.
            let expired = store
                .catalog_entry(&key)
                .await?
                .is_some_and(|row| row.entry.clone().purge_before(before));
            if expired {
                store
                    .catalog_change(&key, now, |entry| Ok(entry.purge_before(before)))
                    .await?;
            }
        }
    }
    // Backoffice figures are kept a month; ended browser sessions (and abandoned sign-in
    // forms) go with the same pass.
    store
        .purge_figures(crate::figures::hour_of(now) - FIGURES_KEPT_MS)
        .await?;
    store
        .purge_sessions(now, now.saturating_sub(crate::sessions::IDLE_MS))
        .await?;
    Ok(total)
}

/// Purges every `purge_interval_secs` until `stop`.
pub async fn run(
    store: Store,
    config: RetentionConfig,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(config.purge_interval_secs.max(1)));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match purge_once(&store, config.purge_batch, Timestamp::now().unix_millis()).await {
            Ok(0) => {}
            Ok(deleted) => {
                metrics.purged(deleted);
                tracing::info!(deleted, "Expired events purged.");
            }
            Err(error) => tracing::warn!(%error, "Retention purge failed; will retry."),
        }
    }
}
