//! The catalog entry of one (project, event name, source) and its public operations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::drift::{DriftLog, Shown, Witness};
use super::pii::Pii;
use super::schema::FieldStats;
use super::{absorb, render};

/// Tunables of the catalog (defaults shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest path level scanned (1 = a top-level payload key).
    pub max_depth: usize,
    /// Paths kept per entry.
    pub max_paths: usize,
    /// Elements scanned per array (and entries per map-like object).
    pub max_array_items: usize,
    /// Longest object key scanned, in bytes.
    pub max_key_bytes: usize,
    /// Latest redacted examples kept.
    pub examples: usize,
    /// Paths and types first seen within the first N events are the baseline, not drift.
    pub baseline_events: u64,
    /// `field_missing` needs the path absent from at least this many latest events…
    pub missing_after_events: u64,
    /// …and for at least this long (ms).
    pub missing_after_ms: i64,
    /// Drift records kept (the oldest are dropped and counted beyond).
    pub max_drift_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 10,
            max_paths: 300,
            max_array_items: 50,
            max_key_bytes: 200,
            examples: 3,
            baseline_events: 20,
            missing_after_events: 100,
            missing_after_ms: 86_400_000,
            max_drift_records: 100,
        }
    }
}

/// A flag's owner status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagStatus {
    /// Raised by a detector, not reviewed yet.
    Detected,
    /// The owner confirmed the field carries PII.
    Confirmed,
    /// The owner dismissed the flag (until new, stronger evidence appears).
    Dismissed,
}

/// No flag at the path given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSuchFlag;

impl std::fmt::Display for NoSuchFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no PII flag at this path")
    }
}

impl std::error::Error for NoSuchFlag {}

/// Days of volume an entry keeps.
pub const VOLUME_DAYS: usize = 30;

/// Events per UTC day: counts only, so it needs no redaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// (day number since the Unix epoch, events received that day), oldest first.
    days: Vec<(i64, u64)>,
}

impl Volume {
    /// Counts one event received at `at_ms`; events older than the kept days are left out.
    pub fn count(&mut self, at_ms: i64) {
        let day = at_ms.div_euclid(86_400_000);
        match self.days.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => self.days[i].1 += 1,
            Err(i) => {
                if i == 0 && self.days.len() >= VOLUME_DAYS {
                    return;
                }
                self.days.insert(i, (day, 1));
                let excess = self.days.len().saturating_sub(VOLUME_DAYS);
                self.days.drain(..excess);
            }
        }
    }
}

/// One redacted example payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The event's id.
    pub event_id: String,
    /// Its receive time (unix ms).
    pub received_at: i64,
    /// Its redacted payload.
    pub payload: Value,
}

/// Everything the catalog keeps for one (project, event name, source): serialized as JSON into one DB column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Entry {
    /// Events absorbed.
    pub(crate) events: u64,
    /// Earliest receive time seen (unix ms).
    pub(crate) first_seen_at: Option<i64>,
    /// Latest receive time seen (unix ms).
    pub(crate) last_seen_at: Option<i64>,
    /// Id of the latest absorbed event (an id, not PII).
    pub(crate) last_event_id: Option<String>,
    /// Some bound cut part of some payload.
    pub(crate) truncated: bool,
    /// Schema hints per path.
    pub(crate) fields: BTreeMap<String, FieldStats>,
    /// The latest redacted examples, oldest first.
    pub(crate) examples: Vec<Example>,
    /// Drift records.
    pub(crate) drift: DriftLog,
    /// PII flags and tallies.
    pub(crate) pii: Pii,
    /// Events per day, the latest days only.
    pub(crate) volume: Volume,
}

impl Entry {
    /// Folds one stored event in. `payload` is the event's JSON payload; `received_at_ms` its receive time (unix ms);
    /// `event_id` its id (a UUID string, not PII). Called in receive order for each event of a batch.
    pub fn absorb(
        &mut self,
        payload: &Value,
        received_at_ms: i64,
        event_id: &str,
        limits: &Limits,
    ) {
        absorb::absorb(self, payload, received_at_ms, event_id, limits, true);
    }

    /// [`Entry::absorb`], keeping the event's redacted payload as an example only when
    /// `keep_example` (one of the latest events of a pass: redacting the others would be
    /// thrown away).
    pub fn absorb_kept(
        &mut self,
        payload: &Value,
        received_at_ms: i64,
        event_id: &str,
        limits: &Limits,
        keep_example: bool,
    ) {
        absorb::absorb(
            self,
            payload,
            received_at_ms,
            event_id,
            limits,
            keep_example,
        );
    }

    /// Re-checks time-based drift (`field_missing`) at `now_ms` without a new event, so a path
    /// whose absence became long enough while no event arrived is still reported. The record
    /// names the latest event and its redacted example when that example is still kept.
    pub fn check_missing(&mut self, now_ms: i64, limits: &Limits) {
        let latest = self
            .examples
            .last()
            .filter(|e| Some(&e.event_id) == self.last_event_id.as_ref());
        let witness = Witness {
            event_id: self.last_event_id.as_deref(),
            at: now_ms,
            example: latest.map(|e| Shown::Redacted(&e.payload)),
        };
        self.drift
            .check_missing(&mut self.fields, self.events, witness, limits);
    }

    /// Whether the event likely carries PII: any flag whose status is not `dismissed`.
    pub fn pii_likely(&self) -> bool {
        self.pii.likely()
    }

    /// Number of drift records ever recorded and the time (unix ms) of the latest one.
    pub fn drift_summary(&self) -> (u64, Option<i64>) {
        (self.drift.total, self.drift.last_at)
    }

    /// Owner decision on every flag at `path` (all categories). Err(NoSuchFlag) when no flag exists at that path.
    pub fn decide(&mut self, path: &str, status: FlagStatus) -> Result<(), NoSuchFlag> {
        self.pii.decide(path, status)
    }

    /// Removes examples received before `cutoff_ms` and the examples attached to drift records first seen before it
    /// (the drift record itself stays, with `example: null`). Returns whether anything changed.
    pub fn purge_before(&mut self, cutoff_ms: i64) -> bool {
        let before = self.examples.len();
        self.examples.retain(|e| e.received_at >= cutoff_ms);
        let drift_changed = self.drift.purge_before(cutoff_ms);
        drift_changed || self.examples.len() != before
    }

    /// The PII part of the API: `{"likely": bool, "flags": [{"path","category","matched_on","status","detector","first_seen_at"}]}`.
    pub fn pii_json(&self) -> Value {
        self.pii.to_json()
    }

    /// The full detail for `GET /v1/catalog/{event}`: `schema`, `examples` (newest first), `drift`, `pii`.
    pub fn detail_json(&self) -> Value {
        render::detail(self)
    }

    /// Events absorbed so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Earliest and latest receive times seen (unix ms).
    pub fn seen_range(&self) -> Option<(i64, i64)> {
        self.first_seen_at.zip(self.last_seen_at)
    }

    /// Events per UTC day (day number since the epoch, count), oldest first, for the
    /// latest [`VOLUME_DAYS`] days that had events.
    pub fn daily_volume(&self) -> &[(i64, u64)] {
        &self.volume.days
    }

    /// Whether a bound (depth, paths, array items, key length) ever cut part of a payload.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

#[cfg(test)]
mod tests;
