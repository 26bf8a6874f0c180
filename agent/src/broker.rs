//! Where accepted events go: a durable, deduplicating log. JetStream in production
//! ([`crate::publish::JetStream`]); [`Memory`] for in-process tests of the routes.
//!
//! The ingest path needs three things of it: publish a message and learn its sequence (and
//! whether its `Nats-Msg-Id` was seen before), read a stored message back by sequence (to
//! answer a replay with the original), and whether it is reachable (readiness).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Subject (`<prefix>.<project>.<event>`).
    pub subject: String,
    /// `Nats-Msg-Id`, stable across retries.
    pub msg_id: String,
    /// `Nats-TTL` value (the project's retention in seconds), if any.
    pub ttl: Option<async_nats::header::HeaderValue>,
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

/// An acknowledged publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Where the message is stored (for a duplicate: where the original is).
    pub sequence: u64,
    /// The `Nats-Msg-Id` was seen inside the duplicate window.
    pub duplicate: bool,
    /// Whether it took more than one attempt: then a duplicate ack may be our own first
    /// attempt, stored with its ack lost.
    pub retried: bool,
    /// The event's place in the message when it went out in a bundle.
    pub position: Option<u32>,
}

/// A durable, deduplicating log of messages.
pub trait Broker: Send + Sync + 'static {
    /// Publishes one message and waits until it is durably stored (or the deadline).
    fn publish<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> BoxFuture<'a, Result<Published, PublishError>>;
    /// The body of the message stored at `sequence`; `None` when it is gone.
    fn stored(&self, sequence: u64) -> BoxFuture<'_, Result<Option<Bytes>, PublishError>>;
    /// Whether the broker is reachable right now.
    fn is_connected(&self) -> bool;
    /// Refuses new publishes from now on (shutdown); those in flight finish.
    fn close(&self);
}

/// A broker in memory, deduplicating by `Nats-Msg-Id` as JetStream does, for tests.
#[derive(Debug, Default)]
pub struct Memory {
    messages: Mutex<Vec<Outgoing>>,
    ids: Mutex<HashMap<String, u64>>,
    down: AtomicBool,
    closed: AtomicBool,
}

impl Memory {
    /// Takes the broker down (`true`) or brings it back: while down, publishes fail.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Release);
    }

    /// Every message stored, in order.
    pub fn messages(&self) -> Vec<Outgoing> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Broker for Memory {
    fn publish<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> BoxFuture<'a, Result<Published, PublishError>> {
        Box::pin(async move {
            if self.closed.load(Ordering::Acquire) {
                return Err(PublishError::ShuttingDown);
            }
            if self.down.load(Ordering::Acquire) {
                return Err(PublishError::Unavailable);
            }
            let (Ok(mut ids), Ok(mut messages)) = (self.ids.lock(), self.messages.lock()) else {
                return Err(PublishError::Unavailable);
            };
            if let Some(sequence) = ids.get(&message.msg_id) {
                return Ok(Published {
                    sequence: *sequence,
                    duplicate: true,
                    retried: false,
                    position: None,
                });
            }
            messages.push(message.clone());
            let sequence = messages.len() as u64;
            ids.insert(message.msg_id.clone(), sequence);
            Ok(Published {
                sequence,
                duplicate: false,
                retried: false,
                position: None,
            })
        })
    }

    fn stored(&self, sequence: u64) -> BoxFuture<'_, Result<Option<Bytes>, PublishError>> {
        Box::pin(async move {
            let messages = self
                .messages
                .lock()
                .map_err(|_| PublishError::Unavailable)?;
            let index = usize::try_from(sequence.saturating_sub(1)).unwrap_or(usize::MAX);
            Ok(messages.get(index).map(|m| m.payload.clone()))
        })
    }

    fn is_connected(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}
