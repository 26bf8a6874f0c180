//! Drift without a plan: `field_added`, `type_changed` and `field_missing` records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::entry::Limits;
use super::schema::{Change, FieldStats};

/// Share of events (between first and latest sighting) a path needs before its absence is drift.
pub const MISSING_MIN_PRESENCE: f64 = 0.9;
/// Sightings a path needs before its absence is drift: one-off paths are not an established field.
pub const MISSING_MIN_SIGHTINGS: u64 = 3;

/// What kind of drift a record reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// A path first seen after the baseline.
    FieldAdded,
    /// An established path absent from recent events.
    FieldMissing,
    /// A new non-null type at a known path.
    TypeChanged,
}

/// One drift finding, with the event that showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftRecord {
    /// The kind of drift.
    pub kind: DriftKind,
    /// The schema path concerned.
    pub path: String,
    /// Dominant earlier type (`type_changed` only).
    pub from: Option<String>,
    /// The new type (`type_changed` only).
    pub to: Option<String>,
    /// When the drift was first seen (unix ms).
    pub first_seen_at: i64,
    /// The event that showed it, when one did.
    pub event_id: Option<String>,
    /// That event's redacted payload (removed by retention purges).
    pub example: Option<Value>,
}

/// The event a drift check runs for: id, receive time and payload.
#[derive(Debug, Clone, Copy)]
pub struct Witness<'a> {
    /// The event id, when there is an event.
    pub event_id: Option<&'a str>,
    /// When the drift is established (unix ms).
    pub at: i64,
    /// The payload, when there is one.
    pub example: Option<Shown<'a>>,
}

/// A payload as a drift record may show it: redaction happens only when a record is made
/// (rarely), not for every event checked.
#[derive(Debug, Clone, Copy)]
pub enum Shown<'a> {
    /// Already redacted.
    Redacted(&'a Value),
    /// As sent: redacted before it is kept.
    Raw(&'a Value),
}

impl Shown<'_> {
    /// The redacted payload.
    pub fn redacted(self) -> Value {
        match self {
            Shown::Redacted(value) => value.clone(),
            Shown::Raw(value) => super::redact::redact(value),
        }
    }
}

/// The bounded list of drift records plus counters that survive the bound.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriftLog {
    /// The latest records, oldest first.
    pub records: Vec<DriftRecord>,
    /// Records ever made.
    pub total: u64,
    /// Records dropped (oldest first) to stay within the cap.
    pub dropped: u64,
    /// Time (unix ms) of the latest record.
    pub last_at: Option<i64>,
}

impl DriftLog {
    /// Appends a record unless one with the same (path, kind, to) exists; drops the oldest beyond the cap.
    fn push(
        &mut self,
        kind: DriftKind,
        path: &str,
        from_to: Option<(String, String)>,
        w: Witness<'_>,
        limits: &Limits,
    ) {
        let (from, to) = match from_to {
            Some((f, t)) => (Some(f), Some(t)),
            None => (None, None),
        };
        // field_missing may recur after the path came back; the schema flag dedupes each episode.
        let duplicate = kind != DriftKind::FieldMissing
            && self
                .records
                .iter()
                .any(|r| r.kind == kind && r.path == path && r.to == to);
        if duplicate {
            return;
        }
        self.records.push(DriftRecord {
            kind,
            path: path.to_string(),
            from,
            to,
            first_seen_at: w.at,
            event_id: w.event_id.map(str::to_string),
            example: w.example.map(Shown::redacted),
        });
        self.total += 1;
        self.last_at = Some(self.last_at.map_or(w.at, |t| t.max(w.at)));
        while self.records.len() > limits.max_drift_records {
            self.records.remove(0);
            self.dropped += 1;
        }
    }

    /// Turns schema changes of event ordinal `event` into records, past the baseline only.
    pub fn apply(&mut self, changes: &[Change], event: u64, w: Witness<'_>, limits: &Limits) {
        if event <= limits.baseline_events {
            return;
        }
        for change in changes {
            match change {
                Change::Added(path) => self.push(DriftKind::FieldAdded, path, None, w, limits),
                Change::NewType {
                    path,
                    from,
                    to,
                    widening,
                } => {
                    if to != "null" && !widening {
                        let ft = Some((from.clone(), to.clone()));
                        self.push(DriftKind::TypeChanged, path, ft, w, limits);
                    }
                }
            }
        }
    }

    /// Records `field_missing` for established paths absent from the latest `events - last_event`
    /// events and for long enough at `w.at`; `events` is the number of events absorbed so far.
    pub fn check_missing(
        &mut self,
        fields: &mut BTreeMap<String, FieldStats>,
        events: u64,
        w: Witness<'_>,
        limits: &Limits,
    ) {
        for (path, stats) in fields.iter_mut() {
            let absent_events = events.saturating_sub(stats.last_event);
            let absent_ms = w.at.saturating_sub(stats.last_seen_at);
            let due = !stats.missing_recorded
                && absent_events > 0
                && absent_events >= limits.missing_after_events
                && absent_ms >= limits.missing_after_ms
                && stats.count >= MISSING_MIN_SIGHTINGS
                && stats.presence() >= MISSING_MIN_PRESENCE;
            if due {
                stats.missing_recorded = true;
                self.push(DriftKind::FieldMissing, path, None, w, limits);
            }
        }
    }

    /// Drops the examples of records first seen before `cutoff_ms`; whether any was dropped.
    pub fn purge_before(&mut self, cutoff_ms: i64) -> bool {
        let mut changed = false;
        for r in self
            .records
            .iter_mut()
            .filter(|r| r.first_seen_at < cutoff_ms)
        {
            changed |= r.example.take().is_some();
        }
        changed
    }
}

#[cfg(test)]
mod tests;
