//! Sendrealm aggregator: the central half of the pipeline.
//!
//! It consumes the events stream, resolves each event's contact, stores events, contacts
//! and system events in SQLite or PostgreSQL, enforces retention, serves the read API, and
//! owns projects (database + admin CLI), publishing their policies to the KV bucket agents
//! watch.
//!
//! # Layout
//!
//! * [`config`]: the aggregator's configuration.
//! * [`store`]: the database, SQLite or PostgreSQL ([`store::Store`]), queries by concern.
//! * [`projects`]: project and API-key administration.
//! * [`sessions`]: owner tokens and the browser sessions of the dashboard and backoffice.
//! * [`service_tokens`]: the credential of platform services on the internal paths.
//! * [`internal`]: system events from platform services, checked against the registry.
//! * [`policies`]: publishing policies to the KV bucket.
//! * [`regions`]: leaf-node regions: their streams and policy mirrors, sourced by the hub.
//! * [`catalog_handoff`]: just-stored events handed to the catalog folder in memory.
//! * [`consume`]: the durable pull consumer: batches, acks after commit, poison handling.
//! * [`known`]: what never changes once seen (projects, identifier links), so batches skip
//!   lookups.
//! * [`plan`]: deciding a batch (contacts, links, conflicts, system events), without I/O.
//! * [`dlq`]: dead letters: advisory capture, records, replay.
//! * [`identity`]: which contact an event belongs to (pure decisions).
//! * [`system_events`]: the system events the aggregator emits (`sendrealm.contact.*`).
//! * [`outbox`]: publishing system events written with their cause.
//! * [`retention`]: the database purge.
//! * [`web`]: the read API, health and metrics.
//! * [`metrics`]: the service counters.
//! * [`figures`]: per-project figures for the backoffice, kept in the database.
//! * [`reports`]: the agents' refusal reports, added to those figures.
//! * [`pull`]: the loop of a durable pull consumer (dead letters, reports).
//! * [`service`]: wiring it all together, with ordered shutdown.
//! * [`cli`], [`dlq_cli`], [`tokens_cli`], [`nats_cli`]: the admin commands.

pub mod catalog;
pub mod catalog_folder;
pub mod catalog_handoff;
pub mod cli;
pub mod config;
pub mod consume;
pub mod dlq;
pub mod dlq_cli;
pub mod figures;
pub mod identity;
pub mod internal;
pub mod known;
pub mod metrics;
pub mod nats_cli;
pub mod outbox;
pub mod plan;
pub mod policies;
pub mod projects;
pub mod pull;
pub mod regions;
pub mod reports;
pub mod retention;
pub mod service;
pub mod service_tokens;
pub mod sessions;
pub mod store;
pub mod system_events;
pub mod tokens_cli;
pub mod wait_matcher;
pub mod waits;
pub mod web;
