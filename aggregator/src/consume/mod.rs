//! Consuming the events stream: pull, store in transactions, and acknowledge only what is
//! committed.
//!
//! * Transactions grow with the backlog: while one is being written, the messages that
//!   arrive gather, and the next transaction takes all of them (up to
//!   `max_transaction_events`). An idle pipeline stores each event as it comes; a busy one
//!   amortises each commit and each index page over thousands of events.
//! * Undecodable or invalid messages (poison) are dead-lettered and terminated at once,
//!   with their reason; they are never retried ([`decode`]).
//! * A transient failure (database down) naks the batch with the delay the backoff
//!   schedule gives for that delivery ([`settle`]).
//! * A batch the database refuses for another reason is split, so one bad event is
//!   dead-lettered and the others are stored.
//! * Nothing is acked before its transaction commits; a crash in between means a
//!   redelivery, which the unique keys turn into a no-op.
//!
//! Layout: [`decode`] (pure), `process` (one batch), `settle` (ack, nak, terminate).

pub mod decode;
mod process;
mod settle;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::MessagesErrorKind;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, Message};
use futures::StreamExt;
use sendrealm_common::subjects;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{ConsumerConfig, DlqConfig, FaultsConfig};
use crate::dlq::failures::Failures;
use crate::known::Known;
use crate::metrics::Metrics;
use crate::store::{Backend, Store};
use crate::system_events::SystemEvents;

/// Everything the consumer needs.
pub struct Consumer {
    /// The store.
    pub store: Store,
    /// JetStream.
    pub js: jetstream::Context,
    /// Consumer settings.
    pub config: ConsumerConfig,
    /// The events stream's settings.
    pub stream: sendrealm_common::config::StreamConfig,
    /// Builder of system events.
    pub system: SystemEvents,
    /// Woken when a batch wrote system events to the outbox.
    pub outbox: Arc<Notify>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Errors of messages being retried (read by the dead-letter worker).
    pub failures: Arc<Failures>,
    /// The dead-letter queue's streams.
    pub dlq: DlqConfig,
    /// Fault injection.
    pub faults: FaultsConfig,
    /// What never changes once seen: projects, identifier links, contacts.
    pub known: Known,
    /// Whether stored events are queued for the catalog.
    pub catalog: bool,
    /// Where committed events go for the catalog folder (when `catalog`).
    pub catalog_handoff: Arc<crate::catalog_handoff::Handoff>,
}

/// The durable pull consumer's settings.
pub fn consumer_config(
    config: &ConsumerConfig,
    stream: &sendrealm_common::config::StreamConfig,
) -> pull::Config {
    let backoff: Vec<Duration> = config
        .backoff_ms
        .iter()
        .map(|ms| Duration::from_millis(*ms))
        .collect();
    pull::Config {
        durable_name: Some(config.durable.clone()),
        description: Some("Sendrealm aggregator".into()),
        ack_policy: AckPolicy::Explicit,
        // With a backoff list the server uses backoff[0] as the ack wait.
        ack_wait: backoff.first().copied().unwrap_or(Duration::from_secs(30)),
        max_deliver: config.max_deliver,
        backoff,
        max_ack_pending: config.max_ack_pending,
        filter_subject: subjects::stream_subjects(&stream.subject_prefix),
        ..Default::default()
    }
}

impl Consumer {
    /// Creates (or updates) the durable consumer and processes messages until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut delay = Duration::from_millis(200);
        while !stop.is_cancelled() {
            match self.session(&stop).await {
                Ok(()) => return,
                Err(error) => tracing::warn!(%error, "Consumer interrupted; resuming."),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn consumer(&self) -> Result<PullConsumer, String> {
        let stream = sendrealm_common::service::ensure_events_stream(&self.js, &self.stream)
            .await
            .map_err(|e| e.to_string())?;
        // The advisory capture must exist before the consumer can emit advisories.
        let info = stream.cached_info();
        crate::dlq::ensure_streams(
            &self.js,
            &self.dlq,
            &self.stream.name,
            &self.config,
            info.config.storage,
            info.config.num_replicas,
        )
        .await
        .map_err(|e| e.to_string())?;
        stream
            .create_consumer(consumer_config(&self.config, &self.stream))
            .await
            .map_err(|e| format!("cannot create consumer {}: {e}", self.config.durable))
    }

    async fn session(&self, stop: &CancellationToken) -> Result<(), String> {
        let consumer = self.consumer().await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch_size)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| format!("cannot pull: {e}"))?;
        // Whatever the client has buffered arrives as one chunk.
        let mut arrivals = messages.ready_chunks(self.config.batch_size.max(1));
        tracing::info!(durable = %self.config.durable, "Consuming events.");
        self.metrics.set_consuming(true);
        let max_transaction = self.config.max_transaction_events.max(1);
        let limit = self
            .config
            .concurrency
            .unwrap_or(match self.store.backend() {
                Backend::Sqlite => 1,
                Backend::Postgres => 4,
            })
            .max(1);
        // Up to `concurrency` transactions at once: on PostgreSQL a batch mostly waits on
        // round trips and the commit, so overlapping them helps.
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let mut pending: Vec<Message> = Vec::new();
        let result = loop {
            while in_flight.len() < limit && !pending.is_empty() {
                let take = pending.len().min(max_transaction);
                let batch: Vec<Message> = pending.drain(..take).collect();
                // Finished even if stop arrives meanwhile: commit, then ack.
                in_flight.push(self.process(batch));
            }
            // Pull no further ahead than a transaction per slot: the rest waits in the
            // stream, not in memory.
            let room = pending.len() < max_transaction * limit;
            tokio::select! {
                _ = stop.cancelled() => break Ok(()),
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                chunk = arrivals.next(), if room => {
                    let Some(chunk) = chunk else {
                        break Err("message stream ended".to_owned());
                    };
                    let mut failure = None;
                    for item in chunk {
                        match item {
                            Ok(message) => {
                                self.metrics.region_progress.note(message.headers.as_ref());
                                pending.push(message);
                            }
                            // Heartbeat hiccups are not fatal; other errors recreate the pull.
                            Err(error) if error.kind() == MessagesErrorKind::MissingHeartbeat => {
                                tracing::debug!(%error, "Pull heartbeat missed.");
                            }
                            Err(error) => failure = Some(format!("pull failed: {error}")),
                        }
                    }
                    if let Some(failure) = failure {
                        break Err(failure);
                    }
                }
            }
        };
        // Every message already pulled is committed and acked before the session ends.
        if !pending.is_empty() {
            in_flight.push(self.process(std::mem::take(&mut pending)));
        }
        while in_flight.next().await.is_some() {}
        self.metrics.set_consuming(false);
        result
    }
}
