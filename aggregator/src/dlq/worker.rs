//! Turns captured consumer advisories into dead-letter records.
//!
//! Idempotent: a record is keyed by the original's (stream, sequence), so an advisory seen
//! twice (redelivery, or a poison message the consumer already recorded) makes one record.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::{self, AckKind};
use sendrealm_common::event::Timestamp;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::failures::Failures;
use super::record::{self, MAX_DELIVERIES, Original, TERMINATED};
use crate::config::{ConsumerConfig, DlqConfig};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Advisory type of `MAX_DELIVERIES`.
const MAX_DELIVER_TYPE: &str = "io.nats.jetstream.advisory.v1.max_deliver";
/// Advisory type of `MSG_TERMINATED`.
const TERMINATED_TYPE: &str = "io.nats.jetstream.advisory.v1.terminated";

/// The fields of both advisory kinds we use.
#[derive(Debug, Deserialize)]
struct Advisory {
    #[serde(rename = "type")]
    kind: String,
    timestamp: String,
    stream: String,
    stream_seq: u64,
    deliveries: i64,
    #[serde(default)]
    reason: Option<String>,
}

/// The advisory worker.
pub struct Worker {
    /// The store.
    pub store: Store,
    /// JetStream.
    pub js: jetstream::Context,
    /// DLQ settings.
    pub dlq: DlqConfig,
    /// The events consumer (its name is in the advisory subjects).
    pub consumer: ConsumerConfig,
    /// The events stream.
    pub stream: sendrealm_common::config::StreamConfig,
    /// Failures the consumer saw.
    pub failures: Arc<Failures>,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// Why one advisory could not be handled now.
#[derive(Debug, thiserror::Error)]
enum HandleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read the original message: {0}")]
    Original(String),
}

impl Worker {
    /// Consumes the capture stream until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        while !stop.is_cancelled() {
            match self.session(&stop).await {
                Ok(()) => return,
                Err(error) => tracing::warn!(%error, "Dead-letter worker interrupted; resuming."),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn session(&self, stop: &CancellationToken) -> Result<(), String> {
        let capture = self
            .js
            .get_stream(&self.dlq.advisory_stream)
            .await
            .map_err(|e| format!("advisory stream: {e}"))?;
        let consumer = capture
            .create_consumer(pull::Config {
                durable_name: Some(self.dlq.durable.clone()),
                description: Some("Sendrealm dead-letter worker".into()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("advisory consumer: {e}"))?;
        crate::pull::each_message(consumer, "advisory", stop, |message| async move {
            let advisory: Advisory = match serde_json::from_slice(&message.payload) {
                Ok(advisory) => advisory,
                Err(error) => {
                    tracing::error!(%error, subject = %message.subject, "Unreadable advisory; skipped.");
                    let _ = message.ack().await;
                    return;
                }
            };
            match self.handle(&advisory).await {
                Ok(()) => {
                    let _ = message.ack().await;
                }
                Err(error) => {
                    tracing::warn!(%error, stream_seq = advisory.stream_seq, "Dead letter not recorded yet; retrying.");
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                        .await;
                }
            }
        })
        .await
    }

    async fn handle(&self, advisory: &Advisory) -> Result<(), HandleError> {
        let reason = match advisory.kind.as_str() {
            MAX_DELIVER_TYPE => MAX_DELIVERIES,
            TERMINATED_TYPE => TERMINATED,
            other => {
                tracing::debug!(kind = other, "Advisory of another kind ignored.");
                return Ok(());
            }
        };
        if self
            .store
            .dead_letter_of(&advisory.stream, advisory.stream_seq as i64)
            .await?
            .is_some()
        {
            // Recorded already (poison is recorded before it is terminated).
            self.failures.forget(advisory.stream_seq);
            return Ok(());
        }
        let events = self
            .js
            .get_stream_no_info(&advisory.stream)
            .await
            .map_err(|e| HandleError::Original(e.to_string()))?;
        let original = match events.get_raw_message(advisory.stream_seq).await {
            Ok(message) => Some(message),
            Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => None,
            Err(error) => return Err(HandleError::Original(error.to_string())),
        };
        let advised_at = Timestamp::parse_rfc3339(&advisory.timestamp)
            .map(Timestamp::unix_millis)
            .unwrap_or_else(|_| Timestamp::now().unix_millis());
        let failure = self.failures.take(advisory.stream_seq);
        let error = match (reason, &failure, &advisory.reason) {
            (TERMINATED, _, Some(why)) => why.clone(),
            (TERMINATED, _, None) => "terminated without a reason".to_owned(),
            (_, Some(failure), _) => format!(
                "gave up after {} deliveries; last error: {}",
                advisory.deliveries, failure.error
            ),
            (_, None, _) => format!(
                "gave up after {} deliveries; the last error was seen by another aggregator instance",
                advisory.deliveries
            ),
        };
        let first = failure
            .as_ref()
            .map(|f| f.first_at)
            .or(original
                .as_ref()
                .map(|m| Timestamp::from(m.time).unix_millis()))
            .unwrap_or(advised_at);
        let last = failure.as_ref().map(|f| f.last_at).unwrap_or(advised_at);
        let subject = original
            .as_ref()
            .map(|m| m.subject.to_string())
            .unwrap_or_default();
        let row = record::build(
            &advisory.stream,
            advisory.stream_seq,
            &self.stream.subject_prefix,
            Original {
                subject: &subject,
                headers: original.as_ref().map(|m| &m.headers),
                payload: original.as_ref().map(|m| m.payload.as_ref()),
            },
            reason,
            &error,
            advisory.deliveries,
            first,
            last,
            Timestamp::now().unix_millis(),
        );
        if self.store.insert_dead_letter(&row).await? {
            self.metrics.dead_lettered(1);
            self.metrics
                .figures
                .count(&row.project_id, crate::figures::DEAD_LETTERED, 1);
            if let Err(error) = record::publish(&self.js, &self.dlq.subject_prefix, &row).await {
                tracing::warn!(%error, id = %row.id, "Dead letter recorded but not copied to the DLQ stream.");
            }
            tracing::warn!(id = %row.id, reason, project_id = %row.project_id, "Event dead-lettered.");
        }
        Ok(())
    }
}
