//! The dead-letter queue: events that could not be processed, kept with why, and replayable.
//!
//! Two paths lead here, both ending in one record per original stream message:
//!
//! * **Poison** (undecodable, invalid, unplaceable): the consumer records it (database,
//!   then the DLQ stream) *before* terminating it, so the reason travels with it.
//! * **Max deliveries** (failed every retry): the server emits a `MAX_DELIVERIES`
//!   advisory. Advisories are only sent to listeners, so a Limits stream captures them
//!   ([`ensure_streams`]) even while no aggregator runs; the [`worker`] turns each into a
//!   record, reading the original from the events stream.
//!
//! Records live in the database (the source of truth for `dlq list|show|replay|purge`)
//! and are copied to the DLQ stream, one subject per project, for other tools.

pub mod failures;
pub mod record;
pub mod replay;
pub mod worker;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use sendrealm_common::policy::SECS_PER_DAY;

use crate::config::{ConsumerConfig, DlqConfig};

/// Advisory subject for messages that reached `max_deliver`.
pub fn max_deliveries_subject(stream: &str, durable: &str) -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{durable}")
}

/// Advisory subject for terminated messages.
pub fn terminated_subject(stream: &str, durable: &str) -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.{stream}.{durable}")
}

/// Why the DLQ streams could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up stream {name}: {reason}")]
pub struct SetupError {
    name: String,
    reason: String,
}

/// Creates (or updates) the advisory capture stream and the DLQ stream.
///
/// The capture stream uses Limits retention: an Interest stream stores nothing while no
/// consumer exists, which is exactly when capture matters.
pub async fn ensure_streams(
    js: &jetstream::Context,
    dlq: &DlqConfig,
    events_stream: &str,
    consumer: &ConsumerConfig,
    storage: stream::StorageType,
    replicas: usize,
) -> Result<(), SetupError> {
    let capture = stream::Config {
        name: dlq.advisory_stream.clone(),
        description: Some("Sendrealm consumer advisories (dead-letter source)".into()),
        subjects: vec![
            max_deliveries_subject(events_stream, &consumer.durable),
            terminated_subject(events_stream, &consumer.durable),
        ],
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(dlq.advisory_max_age_days * SECS_PER_DAY),
        storage,
        num_replicas: replicas,
        ..Default::default()
    };
    let dead = stream::Config {
        name: dlq.stream.clone(),
        description: Some("Sendrealm dead letters".into()),
        subjects: vec![format!("{}.>", dlq.subject_prefix)],
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(dlq.max_age_days * SECS_PER_DAY),
        duplicate_window: Duration::from_secs(120),
        allow_direct: true,
        storage,
        num_replicas: replicas,
        ..Default::default()
    };
    for config in [capture, dead] {
        let name = config.name.clone();
        js.create_or_update_stream(config)
            .await
            .map_err(|e| SetupError {
                name,
                reason: e.to_string(),
            })?;
    }
    Ok(())
}
