//! Per-project figures for the backoffice that outlive the process and add up across
//! aggregators: latency per stage (queue lag, processing, end to end) as HDR buckets, and
//! counts (stored, retried, terminated, dead-lettered, and the agents' refusals by code).
//!
//! The consumer records into [`Figures`] in memory; every few seconds [`run`] moves what
//! was recorded into the current hour's rows (`project_figures`), merging buckets and
//! adding counts. The page reads the last day's rows of every instance and merges them:
//! percentiles come from merged buckets, never from averaging percentiles.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use sendrealm_common::event::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Received → pulled by an aggregator.
pub const QUEUE_LAG: &str = "queue_lag";
/// Pulled → committed.
pub const PROCESSING: &str = "processing";
/// Received → committed.
pub const END_TO_END: &str = "end_to_end";
/// The latency stages, in page order.
pub const STAGES: [&str; 3] = [QUEUE_LAG, PROCESSING, END_TO_END];
/// Events stored.
pub const STORED: &str = "stored";
/// Deliveries retried after a failure.
pub const RETRIED: &str = "retried";
/// Events terminated as poison.
pub const TERMINATED: &str = "terminated";
/// Dead letters recorded.
pub const DEAD_LETTERED: &str = "dead_lettered";
/// Prefix of the agents' refusal counts: `refused.<error code>`.
pub const REFUSED: &str = "refused.";

/// One hour, in ms: the rows' granularity.
pub const HOUR_MS: i64 = 3_600_000;
/// How often recorded figures are written.
const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Largest latency kept: a day, in µs.
const MAX_US: u64 = 86_400_000_000;

/// The start of the hour `ms` falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// What one project recorded since the last flush.
#[derive(Default)]
struct Pending {
    stages: [Option<(Histogram<u64>, u64)>; 3],
    counts: BTreeMap<&'static str, u64>,
}

/// Figures recorded since the last flush, per project.
#[derive(Default)]
pub struct Figures {
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Figures").finish_non_exhaustive()
    }
}

/// Records under one lock (a batch's worth at once).
pub struct Recording<'a>(&'a mut HashMap<String, Pending>);

impl Recording<'_> {
    fn project(&mut self, project_id: &str) -> &mut Pending {
        // Looked up by `&str` first: a known project costs no allocation.
        if !self.0.contains_key(project_id) {
            self.0.insert(project_id.to_owned(), Pending::default());
        }
        match self.0.get_mut(project_id) {
            Some(pending) => pending,
            None => unreachable!("inserted just above"),
        }
    }

    fn stage(&mut self, project_id: &str, stage: usize) -> Option<&mut (Histogram<u64>, u64)> {
        let slot = self.project(project_id).stages.get_mut(stage)?;
        if slot.is_none() {
            *slot = Histogram::new_with_bounds(1, MAX_US, 2)
                .ok()
                .map(|h| (h, 0));
        }
        slot.as_mut()
    }

    /// One latency of a stage (`STAGES` index), in µs.
    pub fn latency(&mut self, project_id: &str, stage: usize, us: u64) {
        if let Some((histogram, sum)) = self.stage(project_id, stage) {
            histogram.saturating_record(us.clamp(1, MAX_US));
            *sum += us;
        }
    }

    /// Adds buckets (value µs, count) and their sum to a stage.
    fn buckets(&mut self, project_id: &str, stage: usize, buckets: &[(u64, u64)], sum_us: u64) {
        if let Some((histogram, sum)) = self.stage(project_id, stage) {
            for (value, count) in buckets {
                let _ = histogram.record_n((*value).clamp(1, MAX_US), *count);
            }
            *sum += sum_us;
        }
    }

    /// Adds to a counter.
    pub fn count(&mut self, project_id: &str, name: &'static str, n: u64) {
        *self.project(project_id).counts.entry(name).or_default() += n;
    }
}

impl Figures {
    /// Records under one lock.
    pub fn record(&self, f: impl FnOnce(&mut Recording<'_>)) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut Recording(&mut pending));
    }

    /// Adds to one counter.
    pub fn count(&self, project_id: &str, name: &'static str, n: u64) {
        self.record(|r| r.count(project_id, name, n));
    }

    /// Takes what was recorded, as rows to add.
    pub fn take(&self) -> Vec<Delta> {
        let pending = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *pending)
        };
        let mut out = Vec::new();
        for (project_id, p) in pending {
            for (stage, slot) in STAGES.iter().zip(p.stages) {
                if let Some((histogram, sum)) = slot {
                    out.push(Delta {
                        project_id: project_id.clone(),
                        name: (*stage).to_owned(),
                        count: histogram.len(),
                        sum_us: sum,
                        buckets: Some(buckets_of(&histogram)),
                    });
                }
            }
            for (name, count) in p.counts {
                out.push(Delta::counter(&project_id, name, count));
            }
        }
        out
    }

    /// Puts back rows that could not be written.
    pub fn restore(&self, deltas: Vec<Delta>) {
        self.record(|r| {
            for d in deltas {
                match (STAGES.iter().position(|s| *s == d.name), d.buckets) {
                    (Some(stage), Some(buckets)) => {
                        r.buckets(&d.project_id, stage, &buckets, d.sum_us);
                    }
                    _ => {
                        if let Some(name) = counter_name(&d.name) {
                            r.count(&d.project_id, name, d.count);
                        }
                    }
                }
            }
        });
    }
}

fn counter_name(name: &str) -> Option<&'static str> {
    [STORED, RETRIED, TERMINATED, DEAD_LETTERED]
        .into_iter()
        .find(|n| *n == name)
}

/// One figure to add to an hour's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The project.
    pub project_id: String,
    /// Stage or counter name.
    pub name: String,
    /// Events (stages) or the counter's increase.
    pub count: u64,
    /// Sum of latencies (µs); 0 for counters.
    pub sum_us: u64,
    /// A stage's buckets (value µs, count), ascending; `None` for counters.
    pub buckets: Option<Vec<(u64, u64)>>,
}

impl Delta {
    /// A counter's increase.
    pub fn counter(project_id: &str, name: &str, count: u64) -> Self {
        Delta {
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            count,
            sum_us: 0,
            buckets: None,
        }
    }
}

fn buckets_of(histogram: &Histogram<u64>) -> Vec<(u64, u64)> {
    histogram
        .iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

/// Merges two ascending bucket lists (the same bucket has the same value in both).
pub fn merge(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                out.push((x.0, x.1 + y.1));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(*x);
                i += 1;
            }
            (Some(_), Some(y)) | (None, Some(y)) => {
                out.push(*y);
                j += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Buckets as stored: `[[value_us, count], …]`.
pub fn encode(buckets: &[(u64, u64)]) -> String {
    serde_json::to_string(buckets).unwrap_or_else(|_| "[]".into())
}

/// Buckets read back; unreadable text counts as none.
pub fn decode(text: Option<&str>) -> Vec<(u64, u64)> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// Writes recorded figures every few seconds until `stop`, then once more. Rows that cannot
/// be written (database away) are kept for the next attempt.
pub async fn run(store: Store, figures: std::sync::Arc<Figures>, stop: CancellationToken) {
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(FLUSH_EVERY) => false,
        };
        let deltas = figures.take();
        if !deltas.is_empty() {
            let hour = hour_of(Timestamp::now().unix_millis());
            if let Err(error) = store.add_figures(hour, &deltas, None).await {
                tracing::debug!(%error, "Backoffice figures not written yet; kept for the next attempt.");
                figures.restore(deltas);
            }
        }
        if stopping {
            return;
        }
    }
}

mod summary;

pub use summary::{LAG_MS, ProjectSummary, StageSummary, quantile, summarize};

#[cfg(test)]
mod tests;
