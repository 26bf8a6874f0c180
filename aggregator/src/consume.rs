//! Consuming the events stream: pull in batches, store each batch in one transaction,
//! and acknowledge only what is committed.
//!
//! * Undecodable or invalid messages (poison) are terminated at once with their reason;
//!   they are never retried.
//! * A transient failure (database down) naks the batch with the delay the backoff
//!   schedule gives for that delivery: a plain NAK would redeliver at once.
//! * A batch the database refuses for another reason is split, so one bad event is
//!   terminated and the others are stored.
//! * Nothing is acked before its transaction commits; a crash in between means a
//!   redelivery, which the unique keys turn into a no-op.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind, Message};
use futures::StreamExt;
use sendrealm_common::event::{Event, Source, Timestamp};
use sendrealm_common::policy::is_valid_project_id;
use sendrealm_common::subjects;
use sendrealm_common::validate::check_event_name_for;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{ConsumerConfig, DlqConfig, FaultsConfig};
use crate::dlq::failures::Failures;
use crate::dlq::record::{self, Original, TERMINATED};
use crate::emit::SystemEvents;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, WriteOutcome};

/// How often a batch is retried when concurrent writers race for the same identifier.
const CONFLICT_RETRIES: usize = 5;

/// Everything the consumer needs.
pub struct Consumer<S> {
    /// The store.
    pub store: S,
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

/// What a message turned out to be.
enum Decoded {
    Event(Box<Event>),
    Poison(String),
}

/// Reads and re-checks a message: the agent validated it, but anything may be published
/// to the stream, so the aggregator trusts nothing it cannot check cheaply.
fn decode(message: &Message, prefix: &str) -> Decoded {
    let mut event = match Event::from_json(&message.payload) {
        Ok(event) => event,
        Err(error) => return Decoded::Poison(format!("undecodable event: {error}")),
    };
    // Messages published before ids became UUIDs are stored under the same ids, rewritten.
    event.normalize_legacy_ids();
    if !is_valid_project_id(&event.project_id) {
        return Decoded::Poison(format!("invalid project id {:?}", event.project_id));
    }
    if let Err(invalid) = check_event_name_for(&event.event, event.source) {
        return Decoded::Poison(format!("invalid event: {}", invalid.message));
    }
    let expected = subjects::event_subject(prefix, &event.project_id, &event.event);
    if message.subject.as_str() != expected {
        return Decoded::Poison(format!(
            "subject {} does not match the event (expected {expected})",
            message.subject
        ));
    }
    if event.contact_id.is_none() && event.external_id.is_none() && event.email.is_none() {
        return Decoded::Poison("invalid identity: no contact_id, external_id or email".into());
    }
    if !event.payload.get().starts_with('{') {
        return Decoded::Poison("invalid payload: not a JSON object".into());
    }
    if event.source == Source::System && event.contact_id.is_none() {
        return Decoded::Poison("invalid system event: no contact_id".into());
    }
    Decoded::Event(Box::new(event))
}

impl<S: Store> Consumer<S> {
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
        // Everything already delivered forms one batch (up to batch_size); when idle, a
        // single message is processed as soon as it arrives.
        let mut batches = messages.ready_chunks(self.config.batch_size);
        tracing::info!(durable = %self.config.durable, "Consuming events.");
        self.metrics.set_consuming(true);
        // Up to `concurrency` batches are stored at once: a batch mostly waits on the
        // database (round trips, the commit's flush), so overlapping them multiplies
        // throughput; each still commits before its messages are acked.
        let mut in_flight = futures::stream::FuturesUnordered::new();
        let limit = self.config.concurrency.max(1);
        let result = loop {
            if in_flight.len() >= limit {
                in_flight.next().await;
                continue;
            }
            let chunk = tokio::select! {
                _ = stop.cancelled() => break Ok(()),
                Some(()) = in_flight.next(), if !in_flight.is_empty() => continue,
                chunk = batches.next() => chunk,
            };
            let Some(chunk) = chunk else {
                break Err("message stream ended".to_owned());
            };
            let mut received = Vec::with_capacity(chunk.len());
            let mut failure = None;
            for item in chunk {
                match item {
                    Ok(message) => received.push(message),
                    Err(error) => {
                        // Heartbeat hiccups are not fatal; other errors recreate the pull.
                        use async_nats::jetstream::consumer::pull::MessagesErrorKind;
                        if error.kind() != MessagesErrorKind::MissingHeartbeat {
                            failure = Some(format!("pull failed: {error}"));
                        } else {
                            tracing::debug!(%error, "Pull heartbeat missed.");
                        }
                    }
                }
            }
            // Finish the batch even if stop arrives meanwhile: commit, then ack.
            in_flight.push(self.process(received));
            if let Some(failure) = failure {
                break Err(failure);
            }
        };
        // Every batch already pulled is committed and acked before the session ends.
        while in_flight.next().await.is_some() {}
        self.metrics.set_consuming(false);
        result
    }

    /// Stores one batch and settles every message of it.
    async fn process(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        let consumed = std::time::Instant::now();
        let consumed_at = Timestamp::now().unix_millis();
        self.metrics.batch_sizes.record_value(messages.len() as u64);
        let redelivered = messages
            .iter()
            .filter(|m| m.info().is_ok_and(|i| i.delivered > 1))
            .count();
        if redelivered > 0 {
            self.metrics.redeliveries(redelivered as u64);
        }
        let prefix = &self.stream.subject_prefix;
        let decoded: Vec<(Message, Decoded)> = messages
            .into_iter()
            .map(|message| {
                let decoded = decode(&message, prefix);
                (message, decoded)
            })
            .collect();
        let unknown = self
            .unknown_projects(decoded.iter().filter_map(|(_, d)| match d {
                Decoded::Event(event) => Some(event.project_id.as_str()),
                Decoded::Poison(_) => None,
            }))
            .await;
        let mut events = Vec::with_capacity(decoded.len());
        let mut holders = Vec::with_capacity(decoded.len());
        for (message, decoded) in decoded {
            match decoded {
                Decoded::Poison(reason) => self.terminate(&message, &reason).await,
                Decoded::Event(event) if self.faults.fail_projects.contains(&event.project_id) => {
                    self.nak_with_backoff(&message, "injected failure (faults.fail_projects)")
                        .await;
                }
                Decoded::Event(event) if unknown.contains(&event.project_id) => {
                    let reason = format!("unknown project {}", event.project_id);
                    self.terminate(&message, &reason).await;
                }
                Decoded::Event(event) => {
                    events.push(*event);
                    holders.push(message);
                }
            }
        }
        if events.is_empty() {
            return;
        }
        for event in &events {
            let lag = consumed_at
                .saturating_sub(event.received_at.unix_millis())
                .max(0);
            self.metrics.queue_lag.record_value(lag as u64 * 1000);
        }
        self.store_and_settle(&events, &holders, consumed).await;
    }

    async fn unknown_projects<'a>(
        &self,
        project_ids: impl Iterator<Item = &'a str>,
    ) -> HashSet<String> {
        let mut unknown = HashSet::new();
        let ids: HashSet<&str> = project_ids.collect();
        for id in ids {
            // A lookup failure is not proof the project is unknown: let the write decide.
            if let Ok(None) = self.store.project(id).await {
                unknown.insert(id.to_owned());
            }
        }
        unknown
    }

    async fn store_and_settle(
        &self,
        events: &[Event],
        messages: &[Message],
        consumed: std::time::Instant,
    ) {
        match self.write(events).await {
            Ok(outcomes) => {
                self.record_latencies(events, &outcomes, consumed);
                let mut stored_any = false;
                for (outcome, message) in outcomes.iter().zip(messages) {
                    match outcome {
                        WriteOutcome::Stored { .. } => {
                            self.metrics.stored(1);
                            stored_any = true;
                            self.ack(message).await;
                        }
                        WriteOutcome::Duplicate => {
                            self.metrics.duplicates(1);
                            self.ack(message).await;
                        }
                        WriteOutcome::Rejected(reason) => self.terminate(message, reason).await,
                    }
                }
                if stored_any {
                    self.outbox.notify_one();
                }
            }
            Err(error) if error.is_transient() || matches!(error, StoreError::Conflict { .. }) => {
                tracing::warn!(%error, events = events.len(), "Batch not stored; redelivering with backoff.");
                let reason = error.to_string();
                for message in messages {
                    self.nak_with_backoff(message, &reason).await;
                }
            }
            Err(error) if events.len() > 1 => {
                // Find the event the database refuses; store the rest.
                tracing::warn!(%error, events = events.len(), "Batch refused; storing its events one by one.");
                for (event, message) in events.iter().zip(messages) {
                    Box::pin(self.store_and_settle(
                        std::slice::from_ref(event),
                        std::slice::from_ref(message),
                        consumed,
                    ))
                    .await;
                }
            }
            Err(error) => {
                self.terminate(
                    &messages[0],
                    &format!("the database refused the event: {error}"),
                )
                .await;
            }
        }
    }

    /// Processing and end-to-end times of the events just committed, overall and per
    /// project (one lock per project per batch).
    fn record_latencies(
        &self,
        events: &[Event],
        outcomes: &[WriteOutcome],
        consumed: std::time::Instant,
    ) {
        let processing_us = consumed.elapsed().as_micros() as u64;
        let committed_at = Timestamp::now().unix_millis();
        let mut per_project: std::collections::HashMap<&str, (u64, u64)> =
            std::collections::HashMap::new();
        for (event, outcome) in events.iter().zip(outcomes) {
            if !matches!(outcome, WriteOutcome::Stored { .. }) {
                continue;
            }
            // End to end is the customers' figure: system events start here, not at an agent.
            if event.source != Source::Api {
                continue;
            }
            let e2e_us = committed_at
                .saturating_sub(event.received_at.unix_millis())
                .max(0) as u64
                * 1000;
            self.metrics.processing.record_value(processing_us);
            self.metrics.end_to_end.record_value(e2e_us);
            let entry = per_project.entry(event.project_id.as_str()).or_default();
            entry.0 += 1;
            entry.1 += e2e_us;
        }
        for (project, (stored, e2e_us)) in per_project {
            self.metrics.project(project, |stats| {
                stats.stored += stored;
                stats.processing_us += processing_us * stored;
                stats.end_to_end_us += e2e_us;
            });
        }
    }

    async fn write(&self, events: &[Event]) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut attempt = 0;
        loop {
            let now = Timestamp::now().unix_millis();
            match self.store.write_batch(events, &self.system, now).await {
                Err(StoreError::Conflict { constraint }) if attempt < CONFLICT_RETRIES => {
                    // Another aggregator linked one of these identifiers first: look again.
                    attempt += 1;
                    tracing::debug!(%constraint, attempt, "Identifier claimed concurrently; retrying the batch.");
                }
                other => return other,
            }
        }
    }

    async fn ack(&self, message: &Message) {
        if let Ok(info) = message.info()
            && info.delivered > 1
        {
            self.failures.forget(info.stream_sequence);
        }
        if let Err(error) = message.ack().await {
            // The event is committed; a lost ack only means a harmless redelivery.
            tracing::warn!(%error, "Ack failed; the event will be redelivered and deduplicated.");
        }
    }

    /// Asks for a redelivery after the backoff delay of this delivery, remembering why.
    async fn nak_with_backoff(&self, message: &Message, error: &str) {
        self.metrics.nacked(1);
        let project = record::project_of(message.subject.as_str(), &self.stream.subject_prefix);
        self.metrics.project(&project, |stats| stats.nacked += 1);
        let delivered = match message.info() {
            Ok(info) => {
                self.failures
                    .record(info.stream_sequence, error, Timestamp::now().unix_millis());
                info.delivered.max(1) as usize
            }
            Err(_) => 1,
        };
        let backoff = &self.config.backoff_ms;
        let delay = backoff
            .get(delivered - 1)
            .or(backoff.last())
            .copied()
            .unwrap_or(1_000);
        if let Err(error) = message
            .ack_with(AckKind::Nak(Some(Duration::from_millis(delay))))
            .await
        {
            tracing::warn!(%error, "Nak failed; the ack wait will redeliver.");
        }
    }

    /// Dead-letters a poison message, then terminates it with its reason (which also
    /// reaches the advisory). If the record cannot be written yet, the message is retried
    /// later instead: nothing is terminated without a record.
    async fn terminate(&self, message: &Message, reason: &str) {
        let Ok(info) = message.info() else {
            tracing::error!(subject = %message.subject, reason, "Message without JetStream metadata; cannot dead-letter it.");
            return;
        };
        let now = Timestamp::now().unix_millis();
        let first = self
            .failures
            .take(info.stream_sequence)
            .map(|f| f.first_at)
            .unwrap_or(now);
        let row = record::build(
            info.stream,
            info.stream_sequence,
            &self.stream.subject_prefix,
            Original {
                subject: message.subject.as_str(),
                headers: message.headers.as_ref(),
                payload: Some(message.payload.as_ref()),
            },
            TERMINATED,
            reason,
            info.delivered,
            first,
            now,
            now,
        );
        match self.store.insert_dead_letter(&row).await {
            Ok(true) => {
                self.metrics.dead_lettered(1);
                if let Err(error) = record::publish(&self.js, &self.dlq.subject_prefix, &row).await
                {
                    tracing::warn!(%error, id = %row.id, "Dead letter recorded but not copied to the DLQ stream.");
                }
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "Cannot record a dead letter yet; retrying the message later.");
                self.nak_with_backoff(message, reason).await;
                return;
            }
        }
        self.metrics.terminated(1);
        self.metrics
            .project(&row.project_id, |stats| stats.terminated += 1);
        tracing::warn!(subject = %message.subject, reason, id = %row.id, "Event dead-lettered and terminated.");
        let Some(reply) = message.reply.clone() else {
            return;
        };
        // AckKind::Term has no reason; the server accepts "+TERM <reason>".
        let body = format!("+TERM {}", reason.replace(['\r', '\n'], " "));
        if let Err(error) = self.js.client().publish(reply, body.into()).await {
            tracing::warn!(%error, "Terminate failed; the message will be redelivered (and recorded once).");
        }
    }
}
