//! The agent's configuration (see `config/agent.example.toml`).

use serde::{Deserialize, Serialize};

use sendrealm_common::config::{ConfigError, NatsConfig};

/// Everything the agent reads from its config file and `SENDREALM_*` environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// This agent's region; stamped on every event it accepts.
    pub region: String,
    /// Hard cap on a `POST /events` body, checked before the body is read.
    pub max_body_bytes: u64,
    /// Hard cap on a `POST /events/batch` body.
    pub max_batch_body_bytes: u64,
    /// Most events a batch may hold.
    pub max_batch_events: usize,
    /// Bytes of request bodies held at once across all requests: past it, requests get
    /// `503` with `Retry-After` before their body is read. At least `max_batch_body_bytes`.
    pub max_buffered_body_bytes: u64,
    /// Publishing to JetStream.
    pub publish: PublishConfig,
    /// How long shutdown waits for in-flight requests and acks before giving up.
    pub shutdown_timeout_secs: u64,
    /// Runtime threads; 0 means one per CPU the process may use. With 1 the agent runs
    /// on a single-threaded runtime, which batches its NATS writes best.
    pub worker_threads: usize,
    /// NATS connection, events stream and policy bucket.
    pub nats: NatsConfig,
    /// SHA-256 (hex) of a token `/metrics` requires as `Authorization: Bearer`; unset:
    /// `/metrics` is open (bind the agent where only operators reach it, or set this).
    pub metrics_token_sha256: Option<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            listen: "127.0.0.1:8080".into(),
            region: "local".into(),
            max_body_bytes: 1024 * 1024,
            max_batch_body_bytes: 16 * 1024 * 1024,
            max_batch_events: 500,
            max_buffered_body_bytes: 64 * 1024 * 1024,
            publish: PublishConfig::default(),
            shutdown_timeout_secs: 20,
            worker_threads: 0,
            nats: NatsConfig::default(),
            metrics_token_sha256: None,
        }
    }
}

/// How events are published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// Wait for one JetStream ack before the attempt counts as failed (and is retried
    /// with the same `Nats-Msg-Id`).
    pub ack_timeout_ms: u64,
    /// Total time an event may take to be acknowledged before the request gets `503`.
    pub deadline_ms: u64,
    /// Publishes awaiting their ack at once; beyond this, requests queue.
    pub max_inflight: usize,
    /// `Retry-After` sent with `503`.
    pub retry_after_secs: u64,
    /// Give every event its project's retention as a per-message TTL (`Nats-TTL`), so the
    /// stream drops it on time. Off: the stream's `max_age` is the only limit in JetStream
    /// (the database still purges per project); JetStream then ingests a little faster.
    pub message_ttl: bool,
    /// Coalesce the events of concurrent requests for one project into one message (a
    /// bundle): an event that finds its project idle still goes out alone, at once.
    pub coalesce: bool,
    /// Most events in one bundle.
    pub bundle_max_events: usize,
    /// Most bytes of events in one bundle (keep it below the server's max_payload).
    pub bundle_max_bytes: usize,
    /// Messages of one project awaiting their acks at once.
    pub bundles_in_flight: usize,
    /// Idempotency keys remembered to answer a resend with the original (for the stream's
    /// duplicate window); the oldest are forgotten first beyond this many.
    pub recent_keys: usize,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            ack_timeout_ms: 2_000,
            deadline_ms: 5_000,
            max_inflight: 1_024,
            retry_after_secs: 2,
            message_ttl: true,
            coalesce: true,
            bundle_max_events: 256,
            bundle_max_bytes: 512 * 1024,
            bundles_in_flight: 2,
            recent_keys: 100_000,
        }
    }
}

impl AgentConfig {
    /// Checks relations between values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |m: String| Err(ConfigError::Inconsistent(m));
        if self.region.len() > 64 || !sendrealm_common::subjects::is_token(&self.region) {
            // A region names its subjects and its leaf's JetStream domain.
            return fail(
                "region must be 1-64 letters, digits, '-' or '_' (it is a NATS subject token)"
                    .into(),
            );
        }
        if self.max_batch_events == 0 || self.max_batch_events > 1000 {
            return fail("max_batch_events must be between 1 and 1000".into());
        }
        if self.publish.ack_timeout_ms == 0
            || self.publish.deadline_ms < self.publish.ack_timeout_ms
        {
            return fail(
                "publish.deadline_ms must be at least publish.ack_timeout_ms (> 0)".into(),
            );
        }
        if self.max_buffered_body_bytes < self.max_batch_body_bytes.max(self.max_body_bytes) {
            return fail(
                "max_buffered_body_bytes must be at least max_batch_body_bytes and max_body_bytes"
                    .into(),
            );
        }
        if self.publish.max_inflight == 0 {
            return fail("publish.max_inflight must be positive".into());
        }
        if self.publish.bundle_max_events == 0
            || self.publish.bundle_max_events > 1000
            || self.publish.bundles_in_flight == 0
        {
            return fail(
                "publish.bundle_max_events must be 1-1000 and publish.bundles_in_flight positive"
                    .into(),
            );
        }
        if self.publish.bundle_max_bytes == 0 || self.publish.bundle_max_bytes > 900 * 1024 {
            return fail(
                "publish.bundle_max_bytes must be 1-921600 (below NATS's max_payload)".into(),
            );
        }
        if self.nats.stream.duplicate_window_secs == 0 {
            return fail("nats.stream.duplicate_window_secs must be positive: dedupe is what makes retries safe".into());
        }
        if let Some(hash) = &self.metrics_token_sha256
            && sendrealm_common::apikey::parse_key_hash(hash).is_none()
        {
            return fail("metrics_token_sha256 must be 64 hex digits (a SHA-256)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_matches_the_defaults() {
        let example: AgentConfig =
            toml::from_str(include_str!("../../config/agent.example.toml")).unwrap();
        assert_eq!(example, AgentConfig::default());
        example.validate().unwrap();
    }
}
