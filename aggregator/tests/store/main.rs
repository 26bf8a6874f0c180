//! The store tier: every store operation against a real SQLite file and a real
//! PostgreSQL database, one test body run on both (`<test>::sqlite`, `<test>::postgres`).
#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod batches;
mod catalog;
mod dead_letters;
mod figures;
mod migrations;
mod projects;
mod reads;
mod support;
mod waits;
