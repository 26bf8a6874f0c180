//! The catalog folder: folds stored events into their catalog entries beside the write
//! path, not in it.
//!
//! A batch's transaction only queues the ids of the events it stored (`catalog_queue`, one
//! row per batch). The folder takes queued events from the consumer's hand-off (or reads
//! them back after a restart, [`crate::catalog_handoff`]), folds them into their entries on a
//! blocking thread (parsing, schema, PII detection, redaction: the CPU-heavy part) and
//! writes each entry once per pass, in a transaction that also removes the queue rows it
//! folded — so every stored event is counted exactly once, across crashes. The fold runs
//! on a thread of the lowest CPU priority ([`fold_thread`]): it takes what the consumer
//! leaves, so a pass does not delay the commits beside it. Entries are
//! read without locks and written only if unchanged since (their `version`): an owner
//! decision, a retention purge or another aggregator's folder in between makes the pass
//! start over instead of overwriting.

use std::time::Duration;

use sendrealm_common::event::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::catalog::Limits;
use crate::catalog::fold::{self, Key};
use crate::catalog::fold_thread;
use crate::catalog_handoff::Handoff;
use crate::store::{Store, StoreError};

/// Queue rows read per pass.
const QUEUE_ROWS: i64 = 256;
/// Events folded per pass, at most (a pass takes at least one queue row).
const MAX_EVENTS: usize = 20_000;
/// Pause between passes unless the last one found a backlog. A pass is a few statements
/// and a commit: run after every batch, it would take SQLite's one writer (and a synced
/// commit) from the consumer as often as the consumer commits, doubling its latency.
const PASS_GAP: Duration = Duration::from_millis(500);
/// Pause after a failed pass.
const AFTER_ERROR: Duration = Duration::from_secs(1);

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Nothing was queued.
    Idle,
    /// This many events were folded in.
    Folded(usize),
    /// Something changed meanwhile; nothing was written (the next pass reads again).
    Raced,
}

/// Folds the oldest queued events into their entries, once: the events in `handoff` when
/// it has all of them, else read back from the store.
pub async fn pass(
    store: &Store,
    handoff: &Handoff,
    limits: Limits,
    now: i64,
) -> Result<Pass, StoreError> {
    let pending = store.catalog_pending(QUEUE_ROWS).await?;
    if pending.is_empty() {
        return Ok(Pass::Idle);
    }
    let mut queue_ids = Vec::new();
    let mut ids = Vec::new();
    for (queue_id, event_ids) in pending {
        if !queue_ids.is_empty() && ids.len() + event_ids.len() > MAX_EVENTS {
            break;
        }
        queue_ids.push(queue_id);
        ids.extend(event_ids);
    }
    let events = match handoff.take(&ids) {
        Some(events) => events,
        None => store.stored_for_catalog(&ids).await?,
    };
    let folded = events.len();
    let groups = fold::group(events);
    let keys: Vec<Key> = groups.keys().cloned().collect();
    let states = store
        .catalog_states(&keys.iter().collect::<Vec<_>>())
        .await?;
    let states = fold_thread::run(move || {
        let mut states = states;
        fold::fold(&mut states, &groups, &limits, now);
        states
    })
    .await
    .map_err(|e| StoreError::Database(format!("catalog fold stopped: {e}")))?;
    if store.catalog_commit(&queue_ids, &states, now).await? {
        Ok(Pass::Folded(folded))
    } else {
        Ok(Pass::Raced)
    }
}

/// Folds queued events until `stop`: a pass every [`PASS_GAP`], back to back while a
/// backlog lasts.
pub async fn run(
    store: Store,
    handoff: std::sync::Arc<Handoff>,
    limits: Limits,
    stop: CancellationToken,
) {
    loop {
        // A pass dropped halfway commits nothing: its events stay queued for the next start.
        let result = tokio::select! {
            _ = stop.cancelled() => return,
            result = pass(&store, &handoff, limits, Timestamp::now().unix_millis()) => result,
        };
        let pause = match result {
            Ok(Pass::Folded(n)) if n >= MAX_EVENTS / 2 => continue,
            Ok(Pass::Raced) => continue,
            Ok(Pass::Idle) | Ok(Pass::Folded(_)) => PASS_GAP,
            Err(error) => {
                tracing::warn!(%error, "Catalog pass failed; the events stay queued.");
                AFTER_ERROR
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
