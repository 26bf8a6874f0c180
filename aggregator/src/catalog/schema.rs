//! Schema hints: per-path type and format counts merged over every event (types never locked).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::entry::Limits;
use super::formats;
use super::walk::Node;

/// The JSON type name of a value; integers and other numbers kept apart.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What one event showed at one path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Occurrences per JSON type (array elements each count).
    pub types: BTreeMap<&'static str, u64>,
    /// Occurrences per string format.
    pub formats: BTreeMap<&'static str, u64>,
}

/// Groups an event's nodes by path.
pub fn observe(nodes: &[Node<'_>]) -> BTreeMap<String, Observed> {
    let mut out: BTreeMap<String, Observed> = BTreeMap::new();
    for node in nodes {
        let obs = out.entry(node.path.clone()).or_default();
        *obs.types.entry(json_type(node.value)).or_insert(0) += 1;
        if let Some(f) = node.value.as_str().and_then(formats::string_format) {
            *obs.formats.entry(f).or_insert(0) += 1;
        }
    }
    out
}

/// Everything kept about one path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldStats {
    /// Occurrences per JSON type.
    pub types: BTreeMap<String, u64>,
    /// Occurrences per string format.
    pub formats: BTreeMap<String, u64>,
    /// Events that carried the path.
    pub count: u64,
    /// Receive time (unix ms) of the first event carrying it.
    pub first_seen_at: i64,
    /// Receive time (unix ms) of the latest event carrying it.
    pub last_seen_at: i64,
    /// Ordinal (1-based) of the first event carrying it.
    pub first_event: u64,
    /// Ordinal of the latest event carrying it.
    pub last_event: u64,
    /// A `field_missing` record stands for the current absence (cleared when the path returns).
    pub missing_recorded: bool,
}

impl FieldStats {
    /// The most frequent type, nulls only when nothing else was seen (ties: the first by name).
    pub fn dominant_type(&self) -> Option<&str> {
        let best = |with_null: bool| {
            self.types
                .iter()
                .filter(|(t, n)| **n > 0 && (with_null || t.as_str() != "null"))
                .fold(None::<(&String, u64)>, |acc, (t, n)| match acc {
                    Some((_, m)) if m >= *n => acc,
                    _ => Some((t, *n)),
                })
                .map(|(t, _)| t.as_str())
        };
        best(false).or_else(|| best(true))
    }

    /// Occurrences that were not null.
    pub fn non_null(&self) -> u64 {
        let total: u64 = self.types.values().sum();
        total - self.types.get("null").copied().unwrap_or(0)
    }

    /// Share of events carrying the path, from its first to its latest sighting.
    pub fn presence(&self) -> f64 {
        let span = self.last_event.saturating_sub(self.first_event) + 1;
        self.count as f64 / span as f64
    }
}

/// A schema change one event brought, before drift rules (baseline, widening) are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The path had never been seen.
    Added(String),
    /// A type never seen at the path appeared; `from` is the dominant earlier type.
    NewType {
        /// The path.
        path: String,
        /// The dominant type before this event.
        from: String,
        /// The type that appeared.
        to: String,
        /// Only integer ↔ number widening, which is not drift.
        widening: bool,
    },
}

/// Result of merging one event.
#[derive(Debug, Clone, Default)]
pub struct Merged {
    /// Changes, in path order.
    pub changes: Vec<Change>,
    /// Some path was left out because the entry is at its path cap.
    pub truncated: bool,
}

/// Merges one event's observations (event ordinal `event`, received at `at`) into `fields`.
pub fn merge(
    fields: &mut BTreeMap<String, FieldStats>,
    observed: &BTreeMap<String, Observed>,
    event: u64,
    at: i64,
    limits: &Limits,
) -> Merged {
    let mut out = Merged::default();
    for (path, obs) in observed {
        let is_new = !fields.contains_key(path);
        if is_new && fields.len() >= limits.max_paths {
            out.truncated = true;
            continue;
        }
        let stats = fields.entry(path.clone()).or_insert_with(|| FieldStats {
            first_seen_at: at,
            last_seen_at: at,
            first_event: event,
            ..FieldStats::default()
        });
        if is_new {
            out.changes.push(Change::Added(path.clone()));
        } else {
            let from = stats.dominant_type().unwrap_or("null").to_string();
            for t in obs.types.keys() {
                if !stats.types.contains_key(*t) {
                    out.changes.push(Change::NewType {
                        path: path.clone(),
                        from: from.clone(),
                        to: (*t).to_string(),
                        widening: widens(&stats.types, t),
                    });
                }
            }
        }
        for (t, n) in &obs.types {
            *stats.types.entry((*t).to_string()).or_insert(0) += n;
        }
        for (f, n) in &obs.formats {
            *stats.formats.entry((*f).to_string()).or_insert(0) += n;
        }
        stats.count += 1;
        stats.last_seen_at = stats.last_seen_at.max(at);
        stats.last_event = event;
        stats.missing_recorded = false;
    }
    out
}

/// Whether `to` only widens the types seen before (integer ↔ number): clients that write 1.0 as 1 flip these.
fn widens(seen: &BTreeMap<String, u64>, to: &str) -> bool {
    match to {
        "number" => seen.contains_key("integer"),
        "integer" => seen.contains_key("number"),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
