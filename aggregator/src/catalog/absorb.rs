//! Folding one event into an entry: schema, drift, PII and examples, in that order.

use serde_json::Value;

use super::classify;
use super::drift::{Shown, Witness};
use super::entry::{Entry, Example, Limits};
use super::redact::redact;
use super::schema;
use super::walk;

/// Folds one event into `entry` (see [`Entry::absorb`]); its redacted payload joins the
/// examples only with `keep_example` (a caller folding many events at once redacts only
/// the latest few).
pub fn absorb(
    entry: &mut Entry,
    payload: &Value,
    at: i64,
    event_id: &str,
    limits: &Limits,
    keep_example: bool,
) {
    entry.events += 1;
    let ordinal = entry.events;
    entry.first_seen_at = Some(entry.first_seen_at.map_or(at, |t| t.min(at)));
    entry.last_seen_at = Some(entry.last_seen_at.map_or(at, |t| t.max(at)));
    entry.last_event_id = Some(event_id.to_string());
    entry.volume.count(at);

    let flat = walk::walk(payload, limits);
    let observed = schema::observe(&flat.nodes);
    let merged = schema::merge(&mut entry.fields, &observed, ordinal, at, limits);
    entry.truncated |= flat.truncated || merged.truncated;

    let witness = Witness {
        event_id: Some(event_id),
        at,
        example: Some(Shown::Raw(payload)),
    };
    entry.drift.apply(&merged.changes, ordinal, witness, limits);
    entry
        .drift
        .check_missing(&mut entry.fields, ordinal, witness, limits);

    detect_pii(entry, &flat.nodes, at);

    if !keep_example {
        return;
    }
    entry.examples.push(Example {
        event_id: event_id.to_string(),
        received_at: at,
        payload: redact(payload),
    });
    let excess = entry.examples.len().saturating_sub(limits.examples);
    entry.examples.drain(..excess);
}

/// Runs the detectors on every leaf (and masked data-like key) whose path the schema keeps (the path cap bounds flags too).
fn detect_pii(entry: &mut Entry, nodes: &[walk::Node<'_>], at: i64) {
    let mut weak_paths: Vec<&str> = Vec::new();
    for node in nodes {
        if !entry.fields.contains_key(&node.path) {
            continue;
        }
        let mut findings: Vec<classify::Finding> = node
            .masked_key
            .and_then(classify::classify_masked_key)
            .into_iter()
            .collect();
        if !node.value.is_object() && !node.value.is_array() {
            let hints = classify::leaf_hints(&node.keys);
            findings.extend(classify::classify(&hints, node.value));
        }
        for f in findings {
            if f.weak {
                entry.pii.tally(&node.path, f.category);
                weak_paths.push(&node.path);
            } else {
                entry
                    .pii
                    .raise(&node.path, f.category, f.matched_on, f.detector, at);
            }
        }
    }
    weak_paths.sort_unstable();
    weak_paths.dedup();
    for path in weak_paths {
        let non_null = entry.fields.get(path).map_or(0, |f| f.non_null());
        entry.pii.promote(path, non_null, at);
    }
}
