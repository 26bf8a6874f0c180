//! Publishing events to JetStream: one task owns the send side and drains acks apart from
//! the senders.
//!
//! Requests hand a [`Outgoing`] message to the task over a channel and await a reply. The
//! task enqueues each publish (the first `.await` of async-nats) and keeps the ack futures
//! in a `FuturesUnordered`, so acks are awaited concurrently and never hoarded by a caller
//! (more un-awaited acks than `max_ack_inflight` would deadlock the client). A failed or
//! timed-out attempt is retried with the same `Nats-Msg-Id` until the deadline: JetStream
//! deduplicates it, so an ambiguous timeout never stores an event twice.

use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, publish::PublishAck};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use sendrealm_common::subjects::NATS_TTL;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::PublishConfig;

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Subject (`<prefix>.<project>.<event>`).
    pub subject: String,
    /// `Nats-Msg-Id`, stable across retries.
    pub msg_id: String,
    /// `Nats-TTL` in seconds (the project's retention); `None` leaves the stream's max-age.
    pub ttl_secs: Option<u64>,
    /// The event object JSON.
    pub payload: Bytes,
}

/// Why a publish did not succeed. Whatever the variant, the event was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// No ack before the deadline (JetStream down, slow, or unreachable).
    #[error("JetStream did not acknowledge in time")]
    Unavailable,
    /// JetStream answered with an error that retrying will not fix.
    #[error("JetStream refused the message: {0}")]
    Refused(String),
    /// The agent is shutting down and takes no new publishes.
    #[error("the agent is shutting down")]
    ShuttingDown,
}

struct Job {
    message: Outgoing,
    deadline: Instant,
    attempts: u32,
    reply: oneshot::Sender<Result<PublishAck, PublishError>>,
}

/// Handle to the publish task; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Job>,
    deadline: Duration,
}

/// Delay before the first retry; doubles per attempt up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
const MAX_RETRY_DELAY: Duration = Duration::from_millis(1_000);

impl Publisher {
    /// Starts the publish task. It runs until `stop` is cancelled and every accepted job
    /// has been answered.
    pub fn start(
        js: jetstream::Context,
        config: &PublishConfig,
        stop: CancellationToken,
    ) -> (Publisher, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(config.max_inflight);
        let task = tokio::spawn(run(js, rx, config.max_inflight, stop));
        let publisher = Publisher {
            tx,
            deadline: Duration::from_millis(config.deadline_ms),
        };
        (publisher, task)
    }

    /// Publishes and waits for the JetStream ack (retrying within the deadline).
    pub async fn publish(&self, message: Outgoing) -> Result<PublishAck, PublishError> {
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + self.deadline;
        let job = Job {
            message,
            deadline,
            attempts: 0,
            reply,
        };
        self.tx
            .send(job)
            .await
            .map_err(|_| PublishError::ShuttingDown)?;
        answer.await.unwrap_or(Err(PublishError::ShuttingDown))
    }
}

enum Step {
    Acked(
        Job,
        Result<PublishAck, async_nats::jetstream::context::PublishError>,
    ),
    Retry(Job),
}

async fn run(
    js: jetstream::Context,
    mut rx: mpsc::Receiver<Job>,
    max_inflight: usize,
    stop: CancellationToken,
) {
    let mut inflight: FuturesUnordered<BoxFuture<'static, Step>> = FuturesUnordered::new();
    let mut closing = false;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled(), if !closing => {
                // No new jobs; those already queued are still received and answered.
                closing = true;
                rx.close();
            }
            Some(step) = inflight.next(), if !inflight.is_empty() => match step {
                Step::Acked(job, result) => finish(job, result, &mut inflight),
                Step::Retry(job) => enqueue(&js, job, &mut inflight).await,
            },
            job = rx.recv(), if inflight.len() < max_inflight => match job {
                Some(job) => enqueue(&js, job, &mut inflight).await,
                None if inflight.is_empty() => break,
                None => {
                    // Closed: drain what is in flight.
                    while let Some(step) = inflight.next().await {
                        match step {
                            Step::Acked(job, result) => finish(job, result, &mut inflight),
                            Step::Retry(job) => enqueue(&js, job, &mut inflight).await,
                        }
                    }
                    break;
                }
            },
        }
    }
    tracing::debug!("Publish task finished.");
}

async fn enqueue(
    js: &jetstream::Context,
    mut job: Job,
    inflight: &mut FuturesUnordered<BoxFuture<'static, Step>>,
) {
    if job.reply.is_closed() {
        // The request is gone (client disconnected); nobody would learn the outcome.
        return;
    }
    if Instant::now() >= job.deadline {
        // Never start a publish after the requester has been told 503.
        let _ = job.reply.send(Err(PublishError::Unavailable));
        return;
    }
    job.attempts += 1;
    if js.client().connection_state() != State::Connected {
        // Sending now would park the message in the client's queue, to be written after
        // the reconnect, possibly after the requester was told 503. Wait instead.
        if let Some(fut) = retry_later(job, &"not connected to NATS") {
            inflight.push(fut);
        }
        return;
    }
    let Outgoing {
        subject,
        msg_id,
        ttl_secs,
        payload,
    } = &job.message;
    let mut message = PublishMessage::build()
        .payload(payload.clone())
        .message_id(msg_id);
    if let Some(ttl) = ttl_secs {
        message = message.header(NATS_TTL, ttl.to_string().as_str());
    }
    match js.send_publish(subject.clone(), message).await {
        Ok(ack) => inflight.push(Box::pin(await_ack(job, ack))),
        Err(error) => {
            let step = retry_or_fail(job, error);
            if let Some(fut) = step {
                inflight.push(fut);
            }
        }
    }
}

async fn await_ack(job: Job, ack: PublishAckFuture) -> Step {
    let result = ack.await;
    Step::Acked(job, result)
}

fn finish(
    job: Job,
    result: Result<PublishAck, async_nats::jetstream::context::PublishError>,
    inflight: &mut FuturesUnordered<BoxFuture<'static, Step>>,
) {
    match result {
        Ok(ack) => {
            let _ = job.reply.send(Ok(ack));
        }
        Err(error) => {
            if let Some(fut) = retry_or_fail(job, error) {
                inflight.push(fut);
            }
        }
    }
}

/// Schedules a retry for a transient failure, or answers the job with the error.
fn retry_or_fail(
    job: Job,
    error: async_nats::jetstream::context::PublishError,
) -> Option<BoxFuture<'static, Step>> {
    if !is_transient(&error) {
        tracing::error!(%error, subject = %job.message.subject, "JetStream refused an event.");
        let _ = job
            .reply
            .send(Err(PublishError::Refused(error.to_string())));
        return None;
    }
    retry_later(job, &error)
}

/// Schedules another attempt after a growing delay, or answers `Unavailable` when the
/// deadline would pass first.
fn retry_later(job: Job, error: &dyn std::fmt::Display) -> Option<BoxFuture<'static, Step>> {
    let delay = FIRST_RETRY_DELAY
        .saturating_mul(1 << job.attempts.min(5))
        .min(MAX_RETRY_DELAY);
    if Instant::now() + delay >= job.deadline {
        tracing::warn!(%error, attempts = job.attempts, "Publish not acknowledged before the deadline.");
        let _ = job.reply.send(Err(PublishError::Unavailable));
        return None;
    }
    tracing::debug!(%error, attempts = job.attempts, "Publish attempt failed; retrying with the same Nats-Msg-Id.");
    Some(Box::pin(async move {
        tokio::time::sleep(delay).await;
        Step::Retry(job)
    }))
}

/// Errors worth retrying: the outcome is unknown or the server is busy or restarting.
fn is_transient(error: &async_nats::jetstream::context::PublishError) -> bool {
    match error.kind() {
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::MaxAckPending => true,
        // 429 (10167 "too many requests"), 409 (10158 "duplicate message id is in process")
        // and 503 while a leader is elected all resolve by themselves.
        PublishErrorKind::Other => std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<jetstream::Error>())
            .is_some_and(|e| matches!(e.code(), 409 | 429 | 503)),
        PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence
        | PublishErrorKind::MaxPayloadExceeded => false,
    }
}
