//! Sendrealm aggregator: the central half of the pipeline.
//!
//! It owns projects (database + admin CLI) and publishes their policies to the KV bucket
//! agents watch.
//!
//! # Layout
//!
//! * [`config`]: the aggregator's configuration.
//! * [`store`]: the [`store::Store`] interface and its SQLite and PostgreSQL implementations.
//! * [`projects`]: project and API-key administration.
//! * [`policies`]: publishing policies to the KV bucket.
//! * [`cli`]: the admin commands.

pub mod cli;
pub mod config;
pub mod policies;
pub mod projects;
pub mod store;
