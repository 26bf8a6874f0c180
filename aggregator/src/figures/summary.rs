//! What the stored figures say over a window: merged buckets per stage, counters, and the
//! verdict the backoffice shows (queue lag, bad payloads, both, ok, idle).

use std::collections::BTreeMap;

use super::{DEAD_LETTERED, REFUSED, STAGES, STORED, decode, merge};
use crate::store::FigureRow;

/// The value at quantile `q` (0–1) of ascending buckets, in µs.
pub fn quantile(buckets: &[(u64, u64)], q: f64) -> u64 {
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (value, count) in buckets {
        seen += count;
        if seen >= rank {
            return *value;
        }
    }
    buckets.last().map_or(0, |b| b.0)
}

/// A stage over a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageSummary {
    /// Events.
    pub count: u64,
    /// Mean (ms), from the sum.
    pub mean_ms: f64,
    /// Median (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
}

/// One project's figures over a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectSummary {
    /// Queue lag, processing, end to end.
    pub stages: [StageSummary; 3],
    /// Counters by name (`refused.<code>` included).
    pub counts: BTreeMap<String, u64>,
}

impl ProjectSummary {
    /// A counter's value.
    pub fn counter(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    /// Refusals by code, most first.
    pub fn refused(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .counts
            .iter()
            .filter_map(|(name, n)| name.strip_prefix(REFUSED).map(|c| (c.to_owned(), *n)))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// What holds the project's events up, in words: `queue lag`, `bad payloads`, both,
    /// `ok`, or `idle` when nothing happened in the window.
    pub fn verdict(&self) -> &'static str {
        let bad: u64 =
            self.refused().iter().map(|(_, n)| n).sum::<u64>() + self.counter(DEAD_LETTERED);
        let handled = self.counter(STORED) + bad;
        let lagging = self.stages[0].p99_ms >= LAG_MS;
        let failing = bad > 0 && bad * 100 >= handled;
        match (lagging, failing) {
            (true, true) => "queue lag and bad payloads",
            (true, false) => "queue lag",
            (false, true) => "bad payloads",
            (false, false) if handled == 0 && self.stages[0].count == 0 => "idle",
            (false, false) => "ok",
        }
    }

    /// How bad the verdict is, for ordering (worst first).
    pub fn severity(&self) -> u8 {
        match self.verdict() {
            "queue lag and bad payloads" => 3,
            "queue lag" => 2,
            "bad payloads" => 1,
            _ => 0,
        }
    }
}

/// Queue lag (p99) from which a project counts as lagging.
pub const LAG_MS: f64 = 1000.0;

/// A stage's rows merged: buckets, events, sum (µs).
type Merged = (Vec<(u64, u64)>, u64, u64);

/// Merges stored rows (any hours, any instances) into one summary per project.
pub fn summarize(rows: &[FigureRow]) -> BTreeMap<String, ProjectSummary> {
    let mut buckets: BTreeMap<(String, usize), Merged> = BTreeMap::new();
    let mut out: BTreeMap<String, ProjectSummary> = BTreeMap::new();
    for row in rows {
        let summary = out.entry(row.project_id.clone()).or_default();
        match STAGES.iter().position(|s| *s == row.name) {
            Some(stage) => {
                let slot = buckets.entry((row.project_id.clone(), stage)).or_default();
                slot.0 = merge(&slot.0, &decode(row.histogram.as_deref()));
                slot.1 += row.count.max(0) as u64;
                slot.2 += row.sum_us.max(0) as u64;
            }
            None => {
                *summary.counts.entry(row.name.clone()).or_default() += row.count.max(0) as u64;
            }
        }
    }
    for ((project_id, stage), (merged, count, sum_us)) in buckets {
        if let Some(summary) = out.get_mut(&project_id) {
            summary.stages[stage] = StageSummary {
                count,
                mean_ms: if count == 0 {
                    0.0
                } else {
                    sum_us as f64 / count as f64 / 1000.0
                },
                p50_ms: quantile(&merged, 0.5) as f64 / 1000.0,
                p99_ms: quantile(&merged, 0.99) as f64 / 1000.0,
            };
        }
    }
    out
}
