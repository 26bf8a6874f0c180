//! Publishing the outbox: system events written with their cause (see
//! [`crate::system_events`]) go to the events stream here.
//!
//! A row stays until JetStream acknowledges its event, and its `Nats-Msg-Id` makes a
//! re-publish harmless, so each system event is emitted once even if the aggregator stops
//! between commit and publish.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use sendrealm_common::policy::SECS_PER_DAY;
use sendrealm_common::subjects::NATS_TTL;

use crate::store::{Store, StoreError};

/// Why the outbox could not be flushed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// Reading or clearing the outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// JetStream did not acknowledge.
    #[error("publishing a system event failed: {0}")]
    Publish(String),
}

/// Rows published per round.
const FLUSH_BATCH: i64 = 500;

/// Publishes pending system events; returns how many were published.
pub async fn flush(store: &Store, js: &jetstream::Context) -> Result<usize, FlushError> {
    let mut total = 0;
    loop {
        let rows = store.outbox(FLUSH_BATCH).await?;
        if rows.is_empty() {
            return Ok(total);
        }
        // Retention of each project once per round, not once per row.
        let mut ttls: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut acks = Vec::with_capacity(rows.len());
        for row in &rows {
            let ttl = match ttls.get(&row.project_id) {
                Some(ttl) => *ttl,
                None => {
                    let ttl = store
                        .project(&row.project_id)
                        .await?
                        .map(|p| p.retention_secs.max(1) as u64)
                        .unwrap_or(90 * SECS_PER_DAY);
                    ttls.insert(row.project_id.clone(), ttl);
                    ttl
                }
            };
            let message = PublishMessage::build()
                .payload(row.payload.clone().into())
                .message_id(&row.msg_id)
                .header(NATS_TTL, ttl.to_string().as_str());
            // Enqueue every publish of the round, then await the acks together.
            let ack = js
                .send_publish(row.subject.clone(), message)
                .await
                .map_err(|e| FlushError::Publish(e.to_string()))?;
            acks.push(ack.into_future());
        }
        for result in futures::future::join_all(acks).await {
            result.map_err(|e| FlushError::Publish(e.to_string()))?;
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        store.delete_outbox(&ids).await?;
        total += rows.len();
        if (rows.len() as i64) < FLUSH_BATCH {
            return Ok(total);
        }
    }
}

/// How often the outbox is flushed when nobody asks.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);
