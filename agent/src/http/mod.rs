//! The HTTP adapter: routes, handlers, body reading and the error mapping.

pub mod body;
pub mod budget;
pub mod error;
pub mod handlers;
pub mod routes;

use std::sync::Arc;

use crate::health::Health;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::policy::Policies;

/// Body caps and advice the handlers apply.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Hard cap on a single-event body.
    pub max_body_bytes: u64,
    /// Hard cap on a batch body.
    pub max_batch_body_bytes: u64,
    /// `Retry-After` sent with `503`.
    pub retry_after_secs: u64,
}

/// Everything a handler may touch, built once in [`crate::run`] (or by a test, over an
/// in-memory broker).
pub struct State {
    /// The ingest path.
    pub ingest: Ingest,
    /// Project policies.
    pub policies: Arc<Policies>,
    /// Readiness inputs.
    pub health: Health,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    /// Body caps.
    pub limits: Limits,
    /// SHA-256 of the token `/metrics` requires, if one is configured.
    pub metrics_token: Option<[u8; 32]>,
    /// Refusals per project, reported to the aggregator.
    pub refusals: Arc<crate::refusals::Refusals>,
    /// Bytes of request bodies all requests may hold at once.
    pub body_budget: budget::BodyBudget,
}

impl State {
    /// The handlers' state over a broker and the policies it is fed.
    pub fn new(
        config: &crate::config::AgentConfig,
        broker: Arc<dyn crate::broker::Broker>,
        policies: Arc<Policies>,
        stopping: tokio_util::sync::CancellationToken,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        State {
            ingest: Ingest::new(
                Arc::clone(&broker),
                config.region.clone(),
                config.nats.stream.subject_prefix.clone(),
                config.max_batch_events,
                Arc::clone(&metrics),
                config.publish.message_ttl,
                crate::coalesce::Settings {
                    enabled: config.publish.coalesce,
                    max_events: config.publish.bundle_max_events,
                    max_bytes: config.publish.bundle_max_bytes,
                    in_flight: config.publish.bundles_in_flight,
                },
                crate::recent::RecentKeys::new(
                    std::time::Duration::from_secs(config.nats.stream.duplicate_window_secs),
                    config.publish.recent_keys,
                ),
            ),
            health: Health::new(broker, Arc::clone(&policies), stopping),
            policies,
            metrics,
            limits: Limits {
                max_body_bytes: config.max_body_bytes,
                max_batch_body_bytes: config.max_batch_body_bytes,
                retry_after_secs: config.publish.retry_after_secs,
            },
            metrics_token: config
                .metrics_token_sha256
                .as_deref()
                .and_then(sendrealm_common::apikey::parse_key_hash),
            refusals: Arc::default(),
            body_budget: budget::BodyBudget::new(config.max_buffered_body_bytes),
        }
    }
}
