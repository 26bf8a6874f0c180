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
    dead_lettered: AtomicU64,
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
    /// Dead-letter records made.
    pub fn dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Ordering::Relaxed);
    }
    /// Whether the consumer is pulling.
    pub fn set_consuming(&self, on: bool) {
        self.consuming.store(on, Ordering::Relaxed);
    }
    /// Whether the consumer is pulling.
    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    /// Renders the counters, and the dead-letter depth and age per project.
    pub fn render(&self, dlq: &[crate::store::DlqCount], now_ms: i64) -> String {
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
            "# HELP sendrealm_aggregator_dead_lettered_total Dead-letter records made."
        );
        let _ = writeln!(
            out,
            "# TYPE sendrealm_aggregator_dead_lettered_total counter"
        );
        let _ = writeln!(
            out,
            "sendrealm_aggregator_dead_lettered_total {}",
            self.dead_lettered.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sendrealm_dlq_depth Dead letters not replayed yet, per project."
        );
        let _ = writeln!(out, "# TYPE sendrealm_dlq_depth gauge");
        for count in dlq {
            let _ = writeln!(
                out,
                "sendrealm_dlq_depth{{project_id=\"{}\"}} {}",
                count.project_id, count.pending
            );
        }
        let _ = writeln!(
            out,
            "# HELP sendrealm_dlq_oldest_age_seconds Age of the oldest pending dead letter, per project."
        );
        let _ = writeln!(out, "# TYPE sendrealm_dlq_oldest_age_seconds gauge");
        for count in dlq {
            if let Some(oldest) = count.oldest_pending_at {
                let age = (now_ms - oldest).max(0) as f64 / 1000.0;
                let _ = writeln!(
                    out,
                    "sendrealm_dlq_oldest_age_seconds{{project_id=\"{}\"}} {age:.3}",
                    count.project_id
                );
            }
        }
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
