//! Operational reports the agents send the aggregator: how many events each project had
//! refused, by error code, since the previous report. The backoffice shows them beside the
//! aggregator's own figures, so an operator tells bad payloads from queue lag.

use serde::{Deserialize, Serialize};

/// One agent's refusals since its previous report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalReport {
    /// The reporting agent (a name for this process's life, not a secret).
    pub agent: String,
    /// Its region.
    pub region: String,
    /// When the report was made (Unix ms).
    pub at_ms: i64,
    /// Refusals per project and code.
    pub counts: Vec<RefusalCount>,
}

/// Refusals of one project with one error code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCount {
    /// The project.
    pub project_id: String,
    /// The error code (`payload_too_large`, …).
    pub code: String,
    /// How many.
    pub count: u64,
}
