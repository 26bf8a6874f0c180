//! Counters and latency histograms exported at `/metrics` in the Prometheus text format.
//!
//! Counters are relaxed atomics and histograms are per-thread shards
//! ([`sendrealm_common::latency`]), so recording never makes a request wait for another.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::latency::{MICROS_PER_SEC, Recorder, write_summary, write_summary_header};

/// The routes whose request time is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /events`.
    Events,
    /// `POST /events/batch`.
    Batch,
}

impl Route {
    const ALL: [Route; 2] = [Route::Events, Route::Batch];
    fn label(self) -> &'static str {
        match self {
            Route::Events => "events",
            Route::Batch => "batch",
        }
    }
}

/// How a JetStream publish ended, for the ack-time histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Stored.
    Stored,
    /// A duplicate of an earlier event.
    Duplicate,
    /// Not acknowledged (timeout, refusal).
    Failed,
}

impl AckOutcome {
    const ALL: [AckOutcome; 3] = [
        AckOutcome::Stored,
        AckOutcome::Duplicate,
        AckOutcome::Failed,
    ];
    fn label(self) -> &'static str {
        match self {
            AckOutcome::Stored => "stored",
            AckOutcome::Duplicate => "duplicate",
            AckOutcome::Failed => "failed",
        }
    }
}

const STATUS_CLASSES: [&str; 3] = ["2xx", "4xx", "5xx"];

/// Process-wide counters and histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: AtomicU64,
    replayed: AtomicU64,
    rejected: [AtomicU64; ErrorCode::ALL.len()],
    /// Request time by route and status class.
    requests: [[Recorder; 3]; 2],
    /// JetStream ack time by outcome.
    acks: [Recorder; 3],
    /// Events per batch request.
    batch_sizes: Recorder,
}

impl Metrics {
    /// Counts one newly accepted event.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one replayed event (its idempotency key was seen before).
    pub fn replayed(&self) {
        self.replayed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request refused before any event was read (auth, content type, size).
    pub fn reject(&self, code: ErrorCode) -> u64 {
        self.rejected[code.index()].fetch_add(1, Ordering::Relaxed)
    }

    /// Records the time a request took, by route and status.
    pub fn request(&self, route: Route, status: u16, elapsed: Duration) {
        let class = match status {
            500.. => 2,
            400.. => 1,
            _ => 0,
        };
        self.requests[route as usize][class].record(elapsed);
    }

    /// Records how long JetStream took to acknowledge (or fail) one publish.
    pub fn ack(&self, outcome: AckOutcome, elapsed: Duration) {
        self.acks[outcome as usize].record(elapsed);
    }

    /// Records the number of events in a batch request.
    pub fn batch_size(&self, events: usize) {
        self.batch_sizes.record_value(events as u64);
    }

    /// Renders the counters and histograms, plus gauges supplied by the caller.
    pub fn render(&self, projects: usize, ready: bool) -> String {
        let mut out = String::with_capacity(8192);
        let name = "sendrealm_agent_request_seconds";
        write_summary_header(
            &mut out,
            name,
            "Time to answer an events request, by route and status class.",
        );
        for route in Route::ALL {
            for (class, label) in STATUS_CLASSES.iter().enumerate() {
                let snapshot = self.requests[route as usize][class].snapshot();
                write_summary(
                    &mut out,
                    name,
                    &[("route", route.label()), ("status", label)],
                    &snapshot,
                    MICROS_PER_SEC,
                );
            }
        }
        let name = "sendrealm_agent_ack_seconds";
        write_summary_header(
            &mut out,
            name,
            "Time from publish to JetStream ack (retries included), by outcome.",
        );
        for outcome in AckOutcome::ALL {
            let snapshot = self.acks[outcome as usize].snapshot();
            write_summary(
                &mut out,
                name,
                &[("outcome", outcome.label())],
                &snapshot,
                MICROS_PER_SEC,
            );
        }
        let name = "sendrealm_agent_batch_events";
        write_summary_header(&mut out, name, "Events per batch request.");
        write_summary(&mut out, name, &[], &self.batch_sizes.snapshot(), 1.0);
        let _ = writeln!(
            out,
            "# HELP sendrealm_agent_events_total Events by outcome."
        );
        let _ = writeln!(out, "# TYPE sendrealm_agent_events_total counter");
        let _ = writeln!(
            out,
            "sendrealm_agent_events_total{{outcome=\"accepted\"}} {}",
            self.accepted.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "sendrealm_agent_events_total{{outcome=\"replayed\"}} {}",
            self.replayed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP sendrealm_agent_rejected_total Refusals by error code."
        );
        let _ = writeln!(out, "# TYPE sendrealm_agent_rejected_total counter");
        for code in ErrorCode::ALL {
            let _ = writeln!(
                out,
                "sendrealm_agent_rejected_total{{code=\"{}\"}} {}",
                code.as_str(),
                self.rejected[code.index()].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP sendrealm_agent_projects Projects with a known policy."
        );
        let _ = writeln!(out, "# TYPE sendrealm_agent_projects gauge");
        let _ = writeln!(out, "sendrealm_agent_projects {projects}");
        let _ = writeln!(
            out,
            "# HELP sendrealm_agent_ready Whether the agent takes events."
        );
        let _ = writeln!(out, "# TYPE sendrealm_agent_ready gauge");
        let _ = writeln!(out, "sendrealm_agent_ready {}", u8::from(ready));
        out
    }
}
