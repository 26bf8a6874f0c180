//! Replaying dead letters: the original is published again to its subject, with a new
//! `Nats-Msg-Id` (so the original's duplicate window does not swallow it) that is stable
//! per record (so replaying one record twice in a row is deduplicated). The stored event
//! keeps its id, so the database's unique key stores it once whatever happens.

use async_nats::jetstream::{self, message::PublishMessage};
use sendrealm_common::event::Timestamp;

use super::record;
use crate::store::{DeadLetterRow, Store, StoreError};

/// Header naming the dead letter a replayed message comes from.
pub const REPLAY_OF: &str = "Sendrealm-Replay-Of";

/// Why a record could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The original was gone when the record was made.
    #[error(
        "{0}: the original event was removed by retention before it was recorded; nothing to replay"
    )]
    NoOriginal(String),
    /// JetStream did not take it.
    #[error("{id}: publishing failed: {reason}")]
    Publish {
        /// Record id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Publishes one record's original again and marks the record replayed.
pub async fn replay_one(
    store: &Store,
    js: &jetstream::Context,
    row: &DeadLetterRow,
) -> Result<(), ReplayError> {
    let payload =
        record::payload_bytes(row).ok_or_else(|| ReplayError::NoOriginal(row.id.clone()))?;
    let message = PublishMessage::build()
        .payload(payload)
        .headers(record::replay_headers(row))
        .message_id(format!("replay:{}", row.id))
        .header(REPLAY_OF, row.id.as_str());
    js.send_publish(row.subject.clone(), message)
        .await
        .map_err(|e| publish_error(row, e))?
        .await
        .map_err(|e| publish_error(row, e))?;
    store
        .mark_replayed(&row.id, Timestamp::now().unix_millis())
        .await?;
    Ok(())
}

fn publish_error(row: &DeadLetterRow, error: impl std::fmt::Display) -> ReplayError {
    ReplayError::Publish {
        id: row.id.clone(),
        reason: error.to_string(),
    }
}
