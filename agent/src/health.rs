//! Liveness and readiness.
//!
//! Ready means: policies loaded, the events stream known to exist, NATS connected, and not
//! shutting down. Load balancers stop sending traffic as soon as shutdown begins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::policy::Policies;

/// What `/readyz` reports.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// Whether the agent takes events.
    pub ready: bool,
    /// Policies read to the end at least once.
    pub policies_loaded: bool,
    /// The policy bucket is being watched right now (false: serving the last known).
    pub policies_live: bool,
    /// Number of known projects.
    pub projects: usize,
    /// The events stream exists (checked or created at start).
    pub stream: bool,
    /// The NATS connection is up.
    pub nats_connected: bool,
    /// Shutdown has begun.
    pub shutting_down: bool,
}

/// The inputs of readiness.
pub struct Health {
    broker: Arc<dyn Broker>,
    policies: Arc<Policies>,
    stream_ready: AtomicBool,
    shutdown: CancellationToken,
}

impl Health {
    /// Readiness over these parts.
    pub fn new(
        broker: Arc<dyn Broker>,
        policies: Arc<Policies>,
        shutdown: CancellationToken,
    ) -> Self {
        Health {
            broker,
            policies,
            stream_ready: AtomicBool::new(false),
            shutdown,
        }
    }

    /// Records that the events stream exists.
    pub fn set_stream_ready(&self) {
        self.stream_ready.store(true, Ordering::Release);
    }

    /// The current readiness.
    pub fn readiness(&self) -> Readiness {
        let policies_loaded = self.policies.is_loaded();
        let stream = self.stream_ready.load(Ordering::Acquire);
        let nats_connected = self.broker.is_connected();
        let shutting_down = self.shutdown.is_cancelled();
        Readiness {
            ready: policies_loaded && stream && nats_connected && !shutting_down,
            policies_loaded,
            policies_live: self.policies.is_live(),
            projects: self.policies.len(),
            stream,
            nats_connected,
            shutting_down,
        }
    }
}
