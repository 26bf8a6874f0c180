//! The vocabulary both Sendrealm services speak.
//!
//! # Layout
//!
//! * [`event`]: the ingest request, the stored event object and its timestamps.
//! * [`validate`]: the rules every event passes before it is accepted.
//! * [`identity`]: email normalisation and the placeholder values that would merge strangers.
//! * [`id`]: event ids (deterministic from an idempotency key, otherwise time-ordered).
//! * [`error_code`]: stable error codes and the HTTP status each one means.
//! * [`subjects`]: NATS subject, stream, bucket and header names.
//! * [`policy`]: the project policy the aggregator publishes and agents enforce.
//! * [`apikey`]: how API keys are hashed (only hashes are ever stored).
//! * [`routes`]: which methods a route table allows at a path (`Allow` on `405`).
//! * [`config`]: layered configuration loading (defaults, TOML file, `SENDREALM_*` env).
//! * `latency` (feature `service`): sharded HDR histograms exported as Prometheus summaries.
//! * `service` (feature `service`): process plumbing both binaries share: tracing set-up,
//!   signals, systemd notification and the NATS connection. Kept behind a feature so the
//!   vocabulary itself needs no runtime, as the test harness and tools want.
#![deny(unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod apikey;
pub mod bundle;
pub mod config;
pub mod error_code;
pub mod event;
pub mod id;
pub mod identity;
#[cfg(feature = "service")]
pub mod latency;
pub mod policy;
pub mod registry;
pub mod routes;
#[cfg(feature = "service")]
pub mod service;
pub mod stats;
pub mod subjects;
pub mod validate;
