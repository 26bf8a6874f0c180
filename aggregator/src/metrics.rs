//! Aggregator counters, exported at `/metrics` in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    stored: AtomicU64,
    duplicates: AtomicU64,
    terminated: AtomicU64,
    nacked: AtomicU64,
    purged: AtomicU64,
    consuming: AtomicBool,
}

impl Metrics {
    /// Events stored.
    pub fn stored(&self, n: u64) {
        self.stored.fetch_add(n, Ordering::Relaxed);
    }
    /// Redeliveries and re-sends skipped.
    pub fn duplicates(&self, n: u64) {
        self.duplicates.fetch_add(n, Ordering::Relaxed);
    }
    /// Poison messages terminated.
    pub fn terminated(&self, n: u64) {
        self.terminated.fetch_add(n, Ordering::Relaxed);
    }
    /// Messages nak'ed for a later retry.
    pub fn nacked(&self, n: u64) {
        self.nacked.fetch_add(n, Ordering::Relaxed);
    }
    /// Events deleted by retention.
    pub fn purged(&self, n: u64) {
        self.purged.fetch_add(n, Ordering::Relaxed);
    }
    /// Whether the consumer is pulling.
    pub fn set_consuming(&self, on: bool) {
        self.consuming.store(on, Ordering::Relaxed);
    }
    /// Whether the consumer is pulling.
    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    /// Renders the counters.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        let _ = writeln!(
            out,
            "# HELP sendrealm_aggregator_events_total Consumed events by outcome."
        );
        let _ = writeln!(out, "# TYPE sendrealm_aggregator_events_total counter");
        for (outcome, value) in [
            ("stored", &self.stored),
            ("duplicate", &self.duplicates),
            ("terminated", &self.terminated),
            ("nacked", &self.nacked),
        ] {
            let _ = writeln!(
                out,
                "sendrealm_aggregator_events_total{{outcome=\"{outcome}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP sendrealm_aggregator_purged_total Events deleted by retention."
        );
        let _ = writeln!(out, "# TYPE sendrealm_aggregator_purged_total counter");
        let _ = writeln!(
            out,
            "sendrealm_aggregator_purged_total {}",
            self.purged.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sendrealm_aggregator_consuming Whether the consumer is pulling."
        );
        let _ = writeln!(out, "# TYPE sendrealm_aggregator_consuming gauge");
        let _ = writeln!(
            out,
            "sendrealm_aggregator_consuming {}",
            u8::from(self.is_consuming())
        );
        out
    }
}
