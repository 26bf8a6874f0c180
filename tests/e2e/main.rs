//! Black-box tests against real processes. One test binary, so the suite links once.
#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod admin;
mod api_shapes;
mod backoffice;
mod batch;
mod bench;
mod bundles;
mod catalog;
mod config_files;
mod contract;
mod dashboard;
mod delivery;
mod dlq;
mod faults;
mod fuzz;
mod idempotency;
mod identity;
mod ingest;
mod load;
mod observability;
mod outage;
mod pipeline;
mod policy_updates;
mod regions;
mod retention;
mod soak;
mod system_events;
mod systemd;
mod upgrade;
mod validation;
mod waits;

use serde_json::{Value, json};

/// The request from the public docs, byte for byte in meaning.
pub fn docs_example() -> Value {
    json!({
        "event": "order.completed",
        "email": "olivia@example.com",
        "payload": {"order_id": "ord_123", "amount": 4900, "currency": "USD"},
        "occurred_at": "2026-06-08T14:15:00.000Z",
        "idempotency_key": "evt_order_completed_ord_123"
    })
}
