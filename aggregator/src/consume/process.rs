//! One batch: decode, store in one transaction, then settle every message.

use std::collections::HashSet;

use async_nats::jetstream::Message;
use sendrealm_common::event::{Source, Timestamp};

use super::Consumer;
use super::decode::decode;
use crate::known;
use crate::plan::{self, Incoming, WriteOutcome};
use crate::store::StoreError;

/// How often a batch is retried at once when concurrent writers race for an identifier.
const CONFLICT_RETRIES: usize = 5;

impl Consumer {
    /// Stores one batch and settles every message of it.
    pub(super) async fn process(&self, messages: Vec<Message>) {
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
        let mut events = Vec::with_capacity(messages.len());
        let mut holders = Vec::with_capacity(messages.len());
        let mut poison = Vec::new();
        for message in messages {
            match decode(message.subject.as_str(), &message.payload, prefix) {
                Ok(incoming) => {
                    events.push(incoming);
                    holders.push(message);
                }
                Err(reason) => poison.push((message, reason)),
            }
        }
        for (message, reason) in poison {
            self.terminate(&message, &reason).await;
        }
        let unknown = self.unknown_projects(&events).await;
        let mut kept = Vec::with_capacity(events.len());
        let mut kept_holders = Vec::with_capacity(events.len());
        for (incoming, message) in events.into_iter().zip(holders) {
            let project = &incoming.event.project_id;
            if self.faults.fail_projects.contains(project) {
                self.nak_with_backoff(&message, "injected failure (faults.fail_projects)")
                    .await;
            } else if unknown.contains(project) {
                self.terminate(&message, &format!("unknown project {project}"))
                    .await;
            } else {
                kept.push(incoming);
                kept_holders.push(message);
            }
        }
        if kept.is_empty() {
            return;
        }
        self.metrics.figures.record(|figures| {
            for incoming in &kept {
                let lag_us = consumed_at
                    .saturating_sub(incoming.event.received_at.unix_millis())
                    .max(0) as u64
                    * 1000;
                self.metrics.queue_lag.record_value(lag_us);
                figures.latency(&incoming.event.project_id, 0, lag_us);
            }
        });
        self.store_and_settle(&kept, &kept_holders, consumed).await;
    }

    /// Projects the batch names that do not exist. Known projects are remembered (projects
    /// are never deleted), so a steady stream costs no lookup.
    async fn unknown_projects(&self, events: &[Incoming]) -> HashSet<String> {
        let mut unknown = HashSet::new();
        let ids: HashSet<&str> = events.iter().map(|i| i.event.project_id.as_str()).collect();
        for id in ids {
            if self.known.has_project(id) {
                continue;
            }
            match self.store.project(id).await {
                Ok(Some(_)) => self.known.add_project(id),
                Ok(None) => {
                    unknown.insert(id.to_owned());
                }
                // A lookup failure is not proof the project is unknown: let the write decide.
                Err(_) => {}
            }
        }
        unknown
    }

    async fn store_and_settle(
        &self,
        events: &[Incoming],
        messages: &[Message],
        consumed: std::time::Instant,
    ) {
        match self.write(events).await {
            Ok((outcomes, system_events)) => {
                self.record_latencies(events, &outcomes, consumed);
                for (outcome, message) in outcomes.iter().zip(messages) {
                    match outcome {
                        WriteOutcome::Stored { .. } => self.metrics.stored(1),
                        WriteOutcome::Duplicate => self.metrics.duplicates(1),
                    }
                    self.ack(message).await;
                }
                // Only a batch that wrote system events wakes the publisher: its query
                // would otherwise take the database's turn from the next batch.
                if system_events > 0 {
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

    /// Stores a batch, retrying at once when another aggregator linked one of its
    /// identifiers first (the retry looks again and attaches to that contact). Returns the
    /// outcomes and how many system events the batch wrote to the outbox.
    async fn write(&self, events: &[Incoming]) -> Result<(Vec<WriteOutcome>, usize), StoreError> {
        let lookups = plan::lookups(events);
        let mut attempt = 0;
        loop {
            // Only what is not known yet is looked up (see `known`).
            let (hits, ask) = self.known.split(&lookups);
            let now = Timestamp::now().unix_millis();
            let written = self
                .store
                .write_batch(&ask, now, |found| {
                    let found = known::merged(&hits, found);
                    let (mut writes, outcomes) =
                        plan::plan_batch(events, &found, &self.system, now);
                    writes.catalog = self.catalog;
                    let system_events = writes.outbox.len();
                    let learnt = known::learnt(&found, &writes);
                    (writes, (outcomes, system_events, learnt))
                })
                .await;
            match written {
                Ok(written) => {
                    let (outcomes, system_events, learnt) = written.decided;
                    self.known.remember(learnt);
                    return Ok((
                        plan::settle(events, outcomes, &written.inserted),
                        system_events,
                    ));
                }
                Err(StoreError::Conflict { constraint }) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tracing::debug!(%constraint, attempt, "Identifier claimed concurrently; retrying the batch.");
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Processing and end-to-end times of the events just committed, overall and per
    /// project (one lock per project per batch, one for the lasting figures).
    fn record_latencies(
        &self,
        events: &[Incoming],
        outcomes: &[WriteOutcome],
        consumed: std::time::Instant,
    ) {
        let processing_us = consumed.elapsed().as_micros() as u64;
        let committed_at = Timestamp::now().unix_millis();
        let mut per_project: std::collections::HashMap<&str, (u64, u64)> =
            std::collections::HashMap::new();
        let mut stored: Vec<(&str, u64)> = Vec::with_capacity(events.len());
        for (incoming, outcome) in events.iter().zip(outcomes) {
            let event = &incoming.event;
            // End to end is the customers' figure: system events start here, not at an agent.
            if !matches!(outcome, WriteOutcome::Stored { .. }) || event.source != Source::Api {
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
            stored.push((event.project_id.as_str(), e2e_us));
        }
        for (project, (count, e2e_us)) in &per_project {
            self.metrics.project(project, |stats| {
                stats.stored += count;
                stats.processing_us += processing_us * count;
                stats.end_to_end_us += e2e_us;
            });
        }
        self.metrics.figures.record(|figures| {
            for (project, e2e_us) in &stored {
                figures.latency(project, 1, processing_us);
                figures.latency(project, 2, *e2e_us);
            }
            for (project, (count, _)) in &per_project {
                figures.count(project, crate::figures::STORED, *count);
            }
        });
    }
}
