//! One batch: decode, store in one transaction, then settle every message.
//!
//! A message holds one event or a bundle of them. Every event gets a verdict (stored, to
//! retry, refused), and each message is settled from its events' verdicts: acked when all
//! are stored (or, in a bundle, set aside alone), nakked with backoff when one must be
//! retried (its stored neighbours come back as duplicates, which the unique keys absorb),
//! dead-lettered as a whole only when it holds one event.

use std::collections::HashSet;

use async_nats::jetstream::Message;
use sendrealm_common::bundle::SET_ASIDE_HEADER;
use sendrealm_common::event::{Source, Timestamp};

use super::Consumer;
use super::decode::{Decoded, decode_message};
use crate::known;
use crate::plan::{self, Incoming, WriteOutcome};
use crate::store::StoreError;

/// How often a batch is retried at once when concurrent writers race for an identifier.
const CONFLICT_RETRIES: usize = 5;

/// What became of one event.
#[derive(Debug, Clone)]
enum Verdict {
    /// Committed (or already stored).
    Stored(WriteOutcome),
    /// Not stored now; the message comes back after the backoff.
    Retry(String),
    /// Can never be stored, for this reason.
    Refused(String),
}

/// A message of the batch and what its events came to.
struct Delivery {
    message: Message,
    /// A bundle (format 2): refused events are set aside one by one.
    bundle: bool,
    /// Events of a bundle that could not be decoded: (index, reason).
    poison: Vec<(usize, String)>,
}

/// An event to store: which message holds it, and where in it.
struct Held {
    delivery: usize,
    index: usize,
}

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
        let mut deliveries: Vec<Delivery> = Vec::with_capacity(messages.len());
        let mut events: Vec<Incoming> = Vec::with_capacity(messages.len());
        let mut held: Vec<Held> = Vec::with_capacity(messages.len());
        for message in messages {
            // An event set aside from a bundle arrives with its verdict.
            if let Some(reason) = set_aside_reason(&message) {
                self.terminate(&message, &reason).await;
                continue;
            }
            match decode_message(message.subject.as_str(), &message.payload, prefix) {
                Decoded::Single(Err(reason)) => self.terminate(&message, &reason).await,
                Decoded::Single(Ok(incoming)) => {
                    held.push(Held {
                        delivery: deliveries.len(),
                        index: 0,
                    });
                    events.push(incoming);
                    deliveries.push(Delivery {
                        message,
                        bundle: false,
                        poison: Vec::new(),
                    });
                }
                Decoded::Bundle(items) => {
                    let mut poison = Vec::new();
                    for (index, decoded) in items.into_iter().enumerate() {
                        match decoded {
                            Ok(incoming) => {
                                held.push(Held {
                                    delivery: deliveries.len(),
                                    index,
                                });
                                events.push(incoming);
                            }
                            Err(reason) => poison.push((index, reason)),
                        }
                    }
                    deliveries.push(Delivery {
                        message,
                        bundle: true,
                        poison,
                    });
                }
            }
        }
        let verdicts = self.verdicts(events, consumed_at, consumed).await;
        self.settle_all(deliveries, &held, &verdicts).await;
    }

    /// A verdict for every event: injected failures and unknown projects first, then the
    /// store decides the rest.
    async fn verdicts(
        &self,
        events: Vec<Incoming>,
        consumed_at: i64,
        consumed: std::time::Instant,
    ) -> Vec<Verdict> {
        let unknown = self.unknown_projects(&events).await;
        let mut verdicts: Vec<Option<Verdict>> = vec![None; events.len()];
        let mut kept = Vec::with_capacity(events.len());
        let mut kept_at = Vec::with_capacity(events.len());
        for (i, incoming) in events.into_iter().enumerate() {
            let project = &incoming.event.project_id;
            if self.faults.fail_projects.contains(project) {
                verdicts[i] = Some(Verdict::Retry(
                    "injected failure (faults.fail_projects)".into(),
                ));
            } else if unknown.contains(project) {
                verdicts[i] = Some(Verdict::Refused(format!("unknown project {project}")));
            } else {
                kept.push(incoming);
                kept_at.push(i);
            }
        }
        if !kept.is_empty() {
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
            let stored = self.store_events(&kept, consumed).await;
            for (i, verdict) in kept_at.into_iter().zip(stored) {
                verdicts[i] = Some(verdict);
            }
        }
        verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| Verdict::Retry("no verdict".into())))
            .collect()
    }

    /// Settles each message from its events' verdicts.
    async fn settle_all(&self, deliveries: Vec<Delivery>, held: &[Held], verdicts: &[Verdict]) {
        let mut per_delivery: Vec<Vec<(&Held, &Verdict)>> = vec![Vec::new(); deliveries.len()];
        for (h, verdict) in held.iter().zip(verdicts) {
            per_delivery[h.delivery].push((h, verdict));
        }
        for (delivery, outcomes) in deliveries.into_iter().zip(per_delivery) {
            for (_, verdict) in &outcomes {
                if let Verdict::Stored(outcome) = verdict {
                    match outcome {
                        WriteOutcome::Stored { .. } => self.metrics.stored(1),
                        WriteOutcome::Duplicate => self.metrics.duplicates(1),
                    }
                }
            }
            if let Some(reason) = outcomes.iter().find_map(|(_, v)| match v {
                Verdict::Retry(reason) => Some(reason.clone()),
                _ => None,
            }) {
                self.nak_with_backoff(&delivery.message, &reason).await;
                continue;
            }
            if !delivery.bundle {
                match outcomes.first().map(|(_, v)| *v) {
                    Some(Verdict::Refused(reason)) => {
                        self.terminate(&delivery.message, reason).await
                    }
                    _ => self.ack(&delivery.message).await,
                }
                continue;
            }
            // A bundle: every event that cannot be stored goes on alone, with its reason.
            let mut refused = delivery.poison;
            for (h, verdict) in &outcomes {
                if let Verdict::Refused(reason) = verdict {
                    refused.push((h.index, reason.clone()));
                }
            }
            let mut set_aside = Ok(());
            for (index, reason) in &refused {
                set_aside = self.set_aside(&delivery.message, *index, reason).await;
                if set_aside.is_err() {
                    break;
                }
            }
            match set_aside {
                Ok(()) => self.ack(&delivery.message).await,
                Err(error) => {
                    // Nothing is acked before its refused events are safely on their way.
                    self.nak_with_backoff(&delivery.message, &error).await
                }
            }
        }
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

    /// Stores events in one transaction; on a refusal, one by one to find the event the
    /// database refuses. A verdict per event.
    async fn store_events(
        &self,
        events: &[Incoming],
        consumed: std::time::Instant,
    ) -> Vec<Verdict> {
        match self.write(events).await {
            Ok((outcomes, system_events)) => {
                self.record_latencies(events, &outcomes, consumed);
                // Only a batch that wrote system events wakes the publisher: its query
                // would otherwise take the database's turn from the next batch.
                if system_events > 0 {
                    self.outbox.notify_one();
                }
                outcomes.into_iter().map(Verdict::Stored).collect()
            }
            Err(error) if error.is_transient() || matches!(error, StoreError::Conflict { .. }) => {
                tracing::warn!(%error, events = events.len(), "Batch not stored; redelivering with backoff.");
                vec![Verdict::Retry(error.to_string()); events.len()]
            }
            Err(error) if events.len() > 1 => {
                tracing::warn!(%error, events = events.len(), "Batch refused; storing its events one by one.");
                let mut verdicts = Vec::with_capacity(events.len());
                for event in events {
                    verdicts.extend(
                        Box::pin(self.store_events(std::slice::from_ref(event), consumed)).await,
                    );
                }
                verdicts
            }
            Err(error) => vec![Verdict::Refused(format!(
                "the database refused the event: {error}"
            ))],
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
            let started = std::time::Instant::now();
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
                    // Database stalls (a slow sync, a checkpoint, another writer) show here
                    // and not in the batch's other steps.
                    self.metrics
                        .transaction
                        .record_value(started.elapsed().as_micros() as u64);
                    let (outcomes, system_events, learnt) = written.decided;
                    self.known.remember(learnt);
                    if self.catalog {
                        self.catalog_handoff
                            .offer(plan::catalog_events(events, &written.inserted));
                    }
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

/// The reason carried by an event set aside from a bundle, if this is one.
fn set_aside_reason(message: &Message) -> Option<String> {
    message
        .headers
        .as_ref()?
        .get(SET_ASIDE_HEADER)
        .map(|v| v.to_string())
}
