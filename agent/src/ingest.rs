//! The ingest path without HTTP: validate, rate-limit, publish, and answer with the event.
//!
//! Every refusal is a typed [`IngestError`]; `http::error` is the one place that turns it
//! into a status and a body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::future::join_all;
use sendrealm_common::bundle;
use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::{self, Event, Source, Timestamp};
use sendrealm_common::subjects;
use sendrealm_common::validate::{self, EventContext, Invalid};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::auth::AuthError;
use crate::broker::{Broker, Outgoing, PublishError};
use crate::coalesce::{self, Coalescer};
use crate::metrics::{AckOutcome, Metrics};
use crate::policy::Project;
use crate::ratelimit::{Exceeded, RateInfo};
use crate::recent::{Claim, RecentKeys};

/// Why an event (or a request) was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request or event broke a rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The project is over its rate limit.
    #[error("rate limit exceeded; retry in {} s", .0.retry_after_secs)]
    RateLimited(Exceeded),
    /// JetStream did not accept the event.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The original of a duplicate could not be read back.
    #[error("cannot read the original event: {0}")]
    Original(String),
}

impl IngestError {
    /// The stable code of this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            IngestError::Auth(AuthError::Missing) => ErrorCode::MissingApiKey,
            IngestError::Auth(AuthError::Invalid) => ErrorCode::InvalidApiKey,
            IngestError::Auth(AuthError::NotReady) => ErrorCode::ServiceUnavailable,
            IngestError::Invalid(invalid) => invalid.code,
            IngestError::RateLimited(_) => ErrorCode::RateLimited,
            IngestError::Publish(PublishError::Unavailable | PublishError::ShuttingDown) => {
                ErrorCode::ServiceUnavailable
            }
            IngestError::Original(_) => ErrorCode::ServiceUnavailable,
            IngestError::Publish(PublishError::Refused(_)) => ErrorCode::InternalError,
        }
    }
}

/// An accepted event's answer (the event as stored, with its resolved identity and
/// `deduplicated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Newly stored (`202`).
    New(Answer),
    /// The idempotency key was seen before: the original event (`200`).
    Replayed(Answer),
}

/// A success body, `{"data":{…}}`, written once: `POST /events` sends it whole, a batch
/// splices in its `data` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer(Bytes);

impl Answer {
    /// The whole body.
    pub fn body(&self) -> Bytes {
        self.0.clone()
    }

    /// The `data` object.
    pub fn data(&self) -> &[u8] {
        self.0
            .get(event::DATA_OPEN.len()..self.0.len().saturating_sub(1))
            .unwrap_or_default()
    }
}

/// The answer for an event's JSON.
fn data(event_json: &[u8], event: &Event, deduplicated: bool) -> Answer {
    Answer(Bytes::from(event::data_body(
        event_json,
        event.resolved_identity(),
        Some(deduplicated),
    )))
}

/// The answer of a replay: the original as stored, its ids in today's form.
fn replayed(original: &[u8], fallback: &Event) -> Answer {
    match Event::from_json(original) {
        Ok(mut stored) => {
            stored.normalize_legacy_ids();
            data(&stored.to_json(), &stored, true)
        }
        Err(error) => {
            tracing::warn!(%error, event_id = %fallback.id, "Original of a duplicate is unreadable; answering with the resent event.");
            data(&fallback.to_json(), fallback, true)
        }
    }
}

/// The outcome of one event, with the rate budget left after it (when it was counted).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Accepted or why not.
    pub result: Result<Accepted, IngestError>,
    /// The project's budget after this event; `None` when the event was refused before the
    /// rate limit was consulted.
    pub rate: Option<RateInfo>,
}

/// The body of `POST /events/batch`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// Where an accepted event is in the stream: its message, and its place in a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    sequence: u64,
    position: Option<u32>,
}

/// Everything the ingest path needs; shared by all requests.
pub struct Ingest {
    coalescer: Arc<Coalescer>,
    recent: RecentKeys<Location>,
    region: String,
    subject_prefix: String,
    max_batch_events: usize,
    metrics: Arc<Metrics>,
    message_ttl: AtomicBool,
}

impl Ingest {
    /// Stops sending `Nats-TTL` (the stream does not allow per-message TTLs).
    pub fn disable_message_ttl(&self) {
        self.message_ttl.store(false, Ordering::Relaxed);
    }

    /// Refuses new events from now on (shutdown); those in flight finish.
    pub fn close(&self) {
        self.coalescer.broker().close();
    }

    /// Builds the ingest path over a broker: events coalesced per `coalesce`, resent keys
    /// answered from `recent`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        broker: Arc<dyn Broker>,
        region: String,
        subject_prefix: String,
        max_batch_events: usize,
        metrics: Arc<Metrics>,
        message_ttl: bool,
        coalesce: coalesce::Settings,
        recent: RecentKeys<Location>,
    ) -> Self {
        Ingest {
            message_ttl: AtomicBool::new(message_ttl),
            coalescer: Arc::new(Coalescer::new(broker, subject_prefix.clone(), coalesce)),
            recent,
            region,
            subject_prefix,
            max_batch_events,
            metrics,
        }
    }

    /// Accepts one event body for a project.
    pub async fn submit(&self, project: &Project, body: &[u8], now: Timestamp) -> Outcome {
        let event = match self.prepare(project, body, now) {
            Ok(event) => event,
            Err(error) => return refused(error, None),
        };
        self.limit_and_publish(project, event).await
    }

    /// Accepts a batch: one outcome per event, in request order. Only a body that is not
    /// a batch at all (or too many events) fails as a whole.
    pub async fn submit_batch(
        &self,
        project: &Project,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Vec<Outcome>, IngestError> {
        let batch: BatchRequest<'_> = validate::parse_json(body)?;
        if batch.events.is_empty() || batch.events.len() > self.max_batch_events {
            return Err(Invalid::field(
                ErrorCode::InvalidBatch,
                "events",
                format!(
                    "a batch holds 1 to {} events; this one has {}",
                    self.max_batch_events,
                    batch.events.len()
                ),
            )
            .into());
        }
        // Validate and count every event first (cheap, in order), then publish the
        // accepted ones concurrently: the publish task pipelines them.
        let pending = batch.events.iter().map(|raw| {
            let prepared = self.prepare(project, raw.get().as_bytes(), now);
            async move {
                match prepared {
                    Ok(event) => self.limit_and_publish(project, event).await,
                    Err(error) => refused(error, None),
                }
            }
        });
        Ok(join_all(pending).await)
    }

    fn prepare(&self, project: &Project, body: &[u8], now: Timestamp) -> Result<Event, Invalid> {
        let request = validate::parse_request(body)?;
        let ctx = EventContext {
            project_id: &project.policy.project_id,
            payload_limit_bytes: project.policy.event_payload_limit_bytes,
            received_at: now,
            region: &self.region,
            source: Source::Api,
        };
        validate::validate(request, &ctx)
    }

    async fn limit_and_publish(&self, project: &Project, event: Event) -> Outcome {
        let rate = match project.limiter.check() {
            Ok(rate) => rate,
            Err(exceeded) => {
                return refused(IngestError::RateLimited(exceeded), Some(exceeded.info));
            }
        };
        let result = self.publish(project, &event).await;
        Outcome {
            result,
            rate: Some(rate),
        }
    }

    /// Publishes an event. A key this agent accepted within the window is answered with
    /// the original; a key being published by another request waits for its outcome.
    async fn publish(&self, project: &Project, event: &Event) -> Result<Accepted, IngestError> {
        let payload = Bytes::from(event.to_json());
        // A keyed event's id is derived from its project and key: the index's key.
        let key = event
            .idempotency_key
            .as_ref()
            .and_then(|_| id_bits(&event.id));
        let Some(key) = key else {
            return self.send(project, event, payload).await.map(|(a, _)| a);
        };
        loop {
            let at = match self.recent.claim(key) {
                Claim::Accepted(at) => at,
                Claim::Wait(outcome) => match outcome.await {
                    Ok(at) => at,
                    // The other request failed: this one tries itself.
                    Err(_) => continue,
                },
                Claim::Mine(guard) => {
                    let (accepted, at) = self.send(project, event, payload).await?;
                    guard.accepted(at);
                    return Ok(accepted);
                }
            };
            return self.replay(at, event, &payload).await;
        }
    }

    /// The answer to a resent key: the original, read back from where it was published.
    async fn replay(
        &self,
        at: Location,
        event: &Event,
        payload: &Bytes,
    ) -> Result<Accepted, IngestError> {
        Ok(Accepted::Replayed(match self.read_back(at).await? {
            Some(original) => replayed(&original, event),
            None => {
                // Gone (retention or purge) but accepted once; its id is derived from the
                // key, so this body names the same event.
                tracing::warn!(event_id = %event.id, sequence = at.sequence, "Original of a resent key no longer in the stream.");
                data(payload, event, true)
            }
        }))
    }

    /// The event stored at `at`; `None` when it is gone.
    async fn read_back(&self, at: Location) -> Result<Option<Bytes>, IngestError> {
        let stored = self
            .coalescer
            .broker()
            .stored(at.sequence)
            .await
            .map_err(|error| IngestError::Original(error.to_string()))?;
        Ok(match (stored, at.position) {
            (Some(body), Some(position)) => bundle::decode(&body).ok().and_then(|events| {
                events
                    .get(position as usize)
                    .map(|raw| Bytes::copy_from_slice(raw.get().as_bytes()))
            }),
            (stored, _) => stored,
        })
    }

    /// Publishes through the coalescer; returns the answer and where the event (the
    /// original, for a duplicate) is.
    async fn send(
        &self,
        project: &Project,
        event: &Event,
        payload: Bytes,
    ) -> Result<(Accepted, Location), IngestError> {
        let outgoing = Outgoing {
            subject: subjects::event_subject(&self.subject_prefix, &event.project_id, &event.event),
            msg_id: event.msg_id(),
            ttl: self
                .message_ttl
                .load(Ordering::Relaxed)
                .then(|| project.ttl.clone()),
            payload: payload.clone(),
        };
        let started = std::time::Instant::now();
        let ack = match self.coalescer.publish(&event.project_id, outgoing).await {
            Ok(published) => published,
            Err(error) => {
                self.metrics.ack(AckOutcome::Failed, started.elapsed());
                return Err(error.into());
            }
        };
        let outcome = if ack.duplicate {
            AckOutcome::Duplicate
        } else {
            AckOutcome::Stored
        };
        self.metrics.ack(outcome, started.elapsed());
        let at = Location {
            sequence: ack.sequence,
            position: ack.position,
        };
        if !ack.duplicate {
            return Ok((Accepted::New(data(&payload, event, false)), at));
        }
        // The key was seen inside the duplicate window: answer with what was stored then.
        match self.read_back(at).await? {
            // Our own earlier attempt was stored and only its ack was lost: a new event.
            Some(original) if ack.retried && original == payload => {
                Ok((Accepted::New(data(&payload, event, false)), at))
            }
            Some(original) => Ok((Accepted::Replayed(replayed(&original, event)), at)),
            None => {
                // The original is gone (retention or purge) but was accepted once; its id is
                // derived from the key, so this body names the same event.
                tracing::warn!(event_id = %event.id, sequence = ack.sequence, "Original of a duplicate no longer in the stream.");
                Ok((Accepted::Replayed(data(&payload, event, true)), at))
            }
        }
    }
}

/// The 128 bits of a UUID's text, without allocating (the recent-keys index's key).
fn id_bits(id: &str) -> Option<u128> {
    let mut bits: u128 = 0;
    let mut digits = 0;
    for c in id.chars().filter(|c| *c != '-') {
        if digits == 32 {
            return None;
        }
        bits = (bits << 4) | u128::from(c.to_digit(16)?);
        digits += 1;
    }
    (digits == 32).then_some(bits)
}

fn refused(error: impl Into<IngestError>, rate: Option<RateInfo>) -> Outcome {
    Outcome {
        result: Err(error.into()),
        rate,
    }
}

#[cfg(test)]
mod tests {
    use super::id_bits;

    #[test]
    fn uuid_text_reads_as_its_bits() {
        assert_eq!(
            id_bits("0f8e6a8c-0000-4000-8000-00000000002a"),
            Some(0x0f8e6a8c_0000_4000_8000_00000000002a)
        );
        assert_eq!(id_bits("0f8e6a8c"), None);
        assert_eq!(id_bits("0f8e6a8c-0000-4000-8000-00000000002a0"), None);
        assert_eq!(id_bits("zf8e6a8c-0000-4000-8000-00000000002a"), None);
    }
}
