//! The HTTP adapter: routes, handlers, body reading and the error mapping.

pub mod body;
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

/// Everything a handler may touch, built once in [`crate::run`].
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
}
