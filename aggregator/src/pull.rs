//! The loop of a durable pull consumer shared by the dead-letter worker and the refusal
//! reports: pull in batches with heartbeats, hand each message over, stop when asked.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::Message;
use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

/// Hands every message of `consumer` to `handle` until `stop` (`Ok`), or until the pull
/// fails (`Err`, for the caller to resume). `what` names the consumer in errors.
pub async fn each_message<F, Fut>(
    consumer: PullConsumer,
    what: &str,
    stop: &CancellationToken,
    mut handle: F,
) -> Result<(), String>
where
    F: FnMut(Message) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(100)
        .heartbeat(Duration::from_secs(5))
        .messages()
        .await
        .map_err(|e| format!("{what} pull: {e}"))?;
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        match next {
            None => return Err(format!("{what} stream ended")),
            Some(Err(error)) => {
                use async_nats::jetstream::consumer::pull::MessagesErrorKind;
                if error.kind() == MessagesErrorKind::MissingHeartbeat {
                    continue;
                }
                return Err(format!("{what} pull: {error}"));
            }
            Some(Ok(message)) => handle(message).await,
        }
    }
}
