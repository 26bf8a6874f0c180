//! Counters exported at `/metrics` in the Prometheus text format.
//!
//! Plain atomics: recording is one relaxed increment, so the request path never waits.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use sendrealm_common::error_code::ErrorCode;

use crate::ingest::{Accepted, Outcome};

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: AtomicU64,
    replayed: AtomicU64,
    rejected: [AtomicU64; ErrorCode::ALL.len()],
}

impl Metrics {
    /// Counts one event outcome.
    pub fn record(&self, outcome: &Outcome) {
        match &outcome.result {
            Ok(Accepted::New(_)) => self.accepted.fetch_add(1, Ordering::Relaxed),
            Ok(Accepted::Replayed(_)) => self.replayed.fetch_add(1, Ordering::Relaxed),
            Err(error) => self.reject(error.code()),
        };
    }

    /// Counts a request refused before any event was read (auth, content type, size).
    pub fn reject(&self, code: ErrorCode) -> u64 {
        self.rejected[code.index()].fetch_add(1, Ordering::Relaxed)
    }

    /// Renders the counters, plus gauges supplied by the caller.
    pub fn render(&self, projects: usize, ready: bool) -> String {
        let mut out = String::with_capacity(4096);
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
