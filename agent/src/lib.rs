//! Sendrealm agent: the edge half of the pipeline.
//!
//! It takes events over HTTP, checks them against the project's policy and the API rules,
//! publishes each to JetStream with a `Nats-Msg-Id`, and answers `202` only once JetStream
//! has acknowledged the write.
//!
//! # Layout
//!
//! * [`config`]: the agent's configuration.
//! * [`policy`]: project policies, followed from the KV bucket, read lock-free.
//! * [`auth`]: Bearer keys to projects.
//! * [`ratelimit`]: per-project event budgets.
//! * [`ingest`]: validate → rate-limit → publish → answer, without HTTP.
//! * [`broker`]: where events go (JetStream; in memory for tests).
//! * [`publish`]: JetStream publishing with a deadline, retrying with the same id.
//! * [`http`]: routes, handlers, body caps and the error mapping.
//! * [`health`], [`metrics`]: readiness and counters.
//! * [`refusals`]: refusals per project, reported to the aggregator.

pub mod auth;
pub mod broker;
pub mod coalesce;
pub mod config;
pub mod health;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod policy;
pub mod publish;
pub mod ratelimit;
pub mod recent;
pub mod refusals;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use sendrealm_common::service::{self, NatsConnectError};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::http::State;
use crate::policy::Policies;
use crate::publish::{JetStream, Publisher};

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The NATS client could not be set up.
    #[error(transparent)]
    Nats(#[from] NatsConnectError),
    /// The events stream handle could not be made.
    #[error("cannot use stream {0}: {1}")]
    Stream(String, String),
}

/// Runs the agent on a bound listener until `shutdown` resolves, then drains: stops
/// accepting, lets in-flight requests finish and their acks arrive (up to
/// `shutdown_timeout_secs`), and returns.
pub async fn run(
    config: AgentConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let client = service::connect_nats(&config.nats, "sendrealm-agent").await?;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_millis(config.publish.ack_timeout_ms))
        .max_ack_inflight(config.publish.max_inflight)
        .build(client.clone());

    let stopping = CancellationToken::new();
    let policies = Arc::new(Policies::default());
    let stream = js
        .get_stream_no_info(&config.nats.stream.name)
        .await
        .map_err(|e| AgentError::Stream(config.nats.stream.name.clone(), e.to_string()))?;
    let broker = Arc::new(JetStream {
        publisher: Publisher::new(js.clone(), &config.publish),
        stream,
    });
    let state = Arc::new(State::new(
        &config,
        broker,
        Arc::clone(&policies),
        stopping.clone(),
    ));

    let background = CancellationToken::new();
    let setup = tokio::spawn(prepare_stream(
        js.clone(),
        config.nats.stream.clone(),
        Arc::clone(&state),
        background.clone(),
    ));
    let watcher = tokio::spawn(policy::follow(
        js.clone(),
        config.nats.policy_bucket.clone(),
        Arc::clone(&policies),
        background.clone(),
    ));
    tokio::spawn(notify_when_ready(Arc::clone(&state), background.clone()));
    tokio::spawn(service::watchdog());
    let reporter = tokio::spawn(refusals::report(
        js.clone(),
        Arc::clone(&state.refusals),
        config.region.clone(),
        config.nats.stream.replicas,
        config.nats.stream.create,
        background.clone(),
    ));

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, region = %config.region, version = env!("CARGO_PKG_VERSION"), "Agent listening.");
    }
    let server = warp::serve(http::routes::routes(Arc::clone(&state)))
        .incoming(listener)
        .graceful(stopping.clone().cancelled_owned())
        .run();
    let mut server = std::pin::pin!(server);
    let budget = Duration::from_secs(config.shutdown_timeout_secs);
    tokio::select! {
        _ = &mut server => {}
        _ = shutdown => {}
    }
    let deadline = Instant::now() + budget;
    service::notify_stopping();
    tracing::info!("Shutting down: no new connections; draining in-flight requests.");
    stopping.cancel();
    if tokio::time::timeout_at(deadline, &mut server)
        .await
        .is_err()
    {
        tracing::warn!("In-flight requests did not finish within the shutdown budget.");
    }
    background.cancel();
    // Requests still running past the budget get 503 for anything new.
    state.ingest.close();
    drop(state);
    let _ = tokio::time::timeout_at(deadline, async {
        let _ = setup.await;
        let _ = watcher.await;
        // The last refusal report, sent once requests have drained.
        let _ = reporter.await;
    })
    .await;
    // Bounded: while NATS is unreachable a flush would wait for the reconnect.
    match tokio::time::timeout(Duration::from_secs(2), client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "Could not flush the NATS connection."),
        Err(_) => tracing::warn!("NATS unreachable at shutdown; nothing left to flush was sent."),
    }
    tracing::info!("Agent stopped.");
    Ok(())
}

/// Makes sure the events stream exists, retrying while JetStream is unreachable.
async fn prepare_stream(
    js: jetstream::Context,
    config: sendrealm_common::config::StreamConfig,
    state: Arc<State>,
    stop: CancellationToken,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        match service::ensure_events_stream(&js, &config).await {
            Ok(stream) => {
                if !stream.cached_info().config.allow_message_ttl {
                    // Nats-TTL would make every publish fail: keep accepting, without it.
                    tracing::error!(
                        stream = %config.name,
                        "The events stream does not allow per-message TTLs; publishing without Nats-TTL. \
                         Recreate the stream with allow_msg_ttl to enforce per-project retention in JetStream."
                    );
                    state.ingest.disable_message_ttl();
                }
                state.health.set_stream_ready();
                return;
            }
            Err(error) => tracing::warn!(%error, "Events stream not ready; retrying."),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Tells systemd once the agent is ready for the first time.
async fn notify_when_ready(state: Arc<State>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if state.health.readiness().ready {
            tracing::info!("Agent ready.");
            service::notify_ready();
            return;
        }
    }
}
