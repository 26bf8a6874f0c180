//! Aggregator counters and latency histograms, exported at `/metrics` in the Prometheus
//! text format and shown in the backoffice.
//!
//! * queue lag: received by the agent → pulled here;
//! * processing: pulled → committed;
//! * end to end: received by the agent → committed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sendrealm_common::latency::{
    MICROS_PER_SEC, Recorder, Snapshot, write_summary, write_summary_header,
};

/// Per-project figures for the backoffice (updated once per batch).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProjectStats {
    /// Events stored.
    pub stored: u64,
    /// Sum of processing times (µs).
    pub processing_us: u64,
    /// Sum of end-to-end times (µs).
    pub end_to_end_us: u64,
    /// Events terminated as poison.
    pub terminated: u64,
    /// Deliveries nak'ed for a retry.
    pub nacked: u64,
}

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    stored: AtomicU64,
    duplicates: AtomicU64,
    terminated: AtomicU64,
    nacked: AtomicU64,
    purged: AtomicU64,
    dead_lettered: AtomicU64,
    redeliveries: AtomicU64,
    consuming: AtomicBool,
    /// Received → pulled.
    pub queue_lag: Recorder,
    /// Pulled → committed.
    pub processing: Recorder,
    /// Received → committed.
    pub end_to_end: Recorder,
    /// A batch's write transaction: waiting for the connection, lookups, inserts, commit.
    pub transaction: Recorder,
    /// Messages per pulled batch.
    pub batch_sizes: Recorder,
    projects: Mutex<BTreeMap<String, ProjectStats>>,
    /// Per-project figures bound for the database (the backoffice's lasting view).
    pub figures: std::sync::Arc<crate::figures::Figures>,
    regions: Mutex<Vec<crate::regions::RegionState>>,
    /// How far each region's messages have been pulled (for its backlog).
    pub region_progress: std::sync::Arc<crate::regions::Progress>,
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
    /// Deliveries that were not the first.
    pub fn redeliveries(&self, n: u64) {
        self.redeliveries.fetch_add(n, Ordering::Relaxed);
    }

    /// Updates per-project figures.
    pub fn project(&self, project_id: &str, update: impl FnOnce(&mut ProjectStats)) {
        if let Ok(mut projects) = self.projects.lock() {
            update(projects.entry(project_id.to_owned()).or_default());
        }
    }

    /// Per-project figures so far.
    pub fn projects(&self) -> BTreeMap<String, ProjectStats> {
        self.projects.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// The latency histograms, named, for the backoffice.
    pub fn latencies(&self) -> [(&'static str, Snapshot); 3] {
        [
            ("queue_lag", self.queue_lag.snapshot()),
            ("processing", self.processing.snapshot()),
            ("end_to_end", self.end_to_end.snapshot()),
        ]
    }

    /// Dead-letter records made.
    pub fn dead_lettered(&self, n: u64) {
        self.dead_lettered.fetch_add(n, Ordering::Relaxed);
    }
    /// Whether the consumer is pulling.
    pub fn set_consuming(&self, on: bool) {
        self.consuming.store(on, Ordering::Relaxed);
    }
    /// The regions as last checked.
    pub fn set_regions(&self, states: Vec<crate::regions::RegionState>) {
        if let Ok(mut regions) = self.regions.lock() {
            *regions = states;
        }
    }
    /// Whether the consumer is pulling.
    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    /// Renders the counters, and the dead-letter depth and age per project.
    pub fn render(&self, dlq: &[crate::store::DlqCount], now_ms: i64) -> String {
        let mut out = String::with_capacity(4096);
        for (name, help, recorder) in [
            (
                "sendrealm_aggregator_queue_lag_seconds",
                "Time from receipt at the agent to being pulled here.",
                &self.queue_lag,
            ),
            (
                "sendrealm_aggregator_processing_seconds",
                "Time from being pulled to the commit.",
                &self.processing,
            ),
            (
                "sendrealm_aggregator_end_to_end_seconds",
                "Time from receipt at the agent to the commit.",
                &self.end_to_end,
            ),
            (
                "sendrealm_aggregator_transaction_seconds",
                "Time of one batch's write transaction, from waiting for the database to the commit.",
                &self.transaction,
            ),
        ] {
            write_summary_header(&mut out, name, help);
            write_summary(&mut out, name, &[], &recorder.snapshot(), MICROS_PER_SEC);
        }
        write_summary_header(
            &mut out,
            "sendrealm_aggregator_batch_messages",
            "Messages per pulled batch.",
        );
        write_summary(
            &mut out,
            "sendrealm_aggregator_batch_messages",
            &[],
            &self.batch_sizes.snapshot(),
            1.0,
        );
        let _ = writeln!(
            out,
            "# HELP sendrealm_aggregator_redeliveries_total Deliveries that were not the first."
        );
        let _ = writeln!(
            out,
            "# TYPE sendrealm_aggregator_redeliveries_total counter"
        );
        let _ = writeln!(
            out,
            "sendrealm_aggregator_redeliveries_total {}",
            self.redeliveries.load(Ordering::Relaxed)
        );
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
        if let Ok(regions) = self.regions.lock() {
            crate::regions::render(&mut out, &regions);
        }
        out
    }
}
