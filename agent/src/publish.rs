//! Publishing events to JetStream with a deadline, retrying with the same `Nats-Msg-Id`.
//!
//! Each request publishes its own events and awaits their acks: with many requests in
//! flight the publishes are pipelined on the one shared connection, and every ack future
//! is awaited as soon as it exists. That matters: async-nats bounds un-awaited acks
//! (`max_ack_inflight`) and a sender hoarding more ack futures than that deadlocks
//! (NATS.md §7.2); a batch awaits its events' acks concurrently for the same reason.
//!
//! A failed or timed-out attempt is retried with the same `Nats-Msg-Id` until the deadline:
//! JetStream deduplicates it, so an ambiguous timeout never stores an event twice. While
//! the connection is down nothing is sent: a message parked in the client's queue would be
//! written after the reconnect, possibly after the requester was told `503`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{DirectGetErrorKind, RawMessageErrorKind, Stream};
use async_nats::jetstream::{self, publish::PublishAck};
use bytes::Bytes;
use futures::future::BoxFuture;
use sendrealm_common::subjects::NATS_TTL;
use tokio::time::Instant;

use crate::broker::{Broker, Outgoing, PublishError, Published};
use crate::config::PublishConfig;

/// Delay before the first retry; doubles per attempt up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(50);
const MAX_RETRY_DELAY: Duration = Duration::from_millis(1_000);

/// Publishes events; shared by all requests.
pub struct Publisher {
    js: jetstream::Context,
    pub(crate) client: async_nats::Client,
    deadline: Duration,
    closed: AtomicBool,
}

impl Publisher {
    /// A publisher on a JetStream context whose timeout is the per-attempt ack timeout.
    pub fn new(js: jetstream::Context, config: &PublishConfig) -> Self {
        Publisher {
            client: js.client(),
            js,
            deadline: Duration::from_millis(config.deadline_ms),
            closed: AtomicBool::new(false),
        }
    }

    /// Refuses new publishes from now on (those in flight finish).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Publishes and waits for the JetStream ack, retrying within the deadline.
    pub async fn publish(&self, message: &Outgoing) -> Result<Published, PublishError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PublishError::ShuttingDown);
        }
        let deadline = Instant::now() + self.deadline;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let error = if self.client.connection_state() != State::Connected {
                "not connected to NATS".to_owned()
            } else {
                match self.attempt(message).await {
                    Ok(ack) => {
                        return Ok(Published {
                            sequence: ack.sequence,
                            duplicate: ack.duplicate,
                            retried: attempt > 1,
                            position: None,
                        });
                    }
                    Err(error) if is_transient(&error) => error.to_string(),
                    Err(error) => {
                        tracing::error!(%error, subject = %message.subject, "JetStream refused an event.");
                        return Err(PublishError::Refused(error.to_string()));
                    }
                }
            };
            let delay = FIRST_RETRY_DELAY
                .saturating_mul(1 << attempt.min(5))
                .min(MAX_RETRY_DELAY);
            if Instant::now() + delay >= deadline {
                tracing::warn!(%error, attempt, "Publish not acknowledged before the deadline.");
                return Err(PublishError::Unavailable);
            }
            tracing::debug!(%error, attempt, "Publish attempt failed; retrying with the same Nats-Msg-Id.");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        message: &Outgoing,
    ) -> Result<PublishAck, async_nats::jetstream::context::PublishError> {
        let mut publish = PublishMessage::build()
            .payload(message.payload.clone())
            .message_id(&message.msg_id);
        if let Some(ttl) = &message.ttl {
            publish = publish.header(NATS_TTL, ttl.clone());
        }
        // First await: enqueued on the connection. Second: the ack (bounded by the
        // context's timeout, the per-attempt ack timeout).
        self.js
            .send_publish(message.subject.clone(), publish)
            .await?
            .await
    }
}

/// The production broker: JetStream, through a [`Publisher`], reading originals back from
/// the events stream.
pub struct JetStream {
    /// Publishes with deadline and retries.
    pub publisher: Publisher,
    /// The events stream (for direct gets of originals).
    pub stream: Stream<()>,
}

impl Broker for JetStream {
    fn publish<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> BoxFuture<'a, Result<Published, PublishError>> {
        Box::pin(self.publisher.publish(message))
    }

    fn stored(&self, sequence: u64) -> BoxFuture<'_, Result<Option<Bytes>, PublishError>> {
        Box::pin(async move {
            match self.stream.direct_get(sequence).await {
                Ok(message) => Ok(Some(message.payload)),
                Err(error) if error.kind() == DirectGetErrorKind::NotFound => Ok(None),
                Err(error) => {
                    // A stream created without allow_direct: ask the leader instead.
                    tracing::debug!(%error, "Direct get failed; reading from the stream leader.");
                    match self.stream.get_raw_message(sequence).await {
                        Ok(message) => Ok(Some(message.payload)),
                        Err(error) if error.kind() == RawMessageErrorKind::NoMessageFound => {
                            Ok(None)
                        }
                        Err(error) => {
                            tracing::warn!(%error, sequence, "Cannot read a stored message back.");
                            Err(PublishError::Unavailable)
                        }
                    }
                }
            }
        })
    }

    fn is_connected(&self) -> bool {
        self.publisher.client.connection_state() == State::Connected
    }

    fn close(&self) {
        self.publisher.close();
    }
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
