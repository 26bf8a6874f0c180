//! The JSON detail view of an entry (`GET /v1/catalog/{event}`), times as RFC 3339 strings.

use serde_json::{Value, json};

use super::entry::Entry;
use super::time::format_ms;

/// Builds `{"schema", "examples", "drift", "pii"}` for one entry.
pub fn detail(entry: &Entry) -> Value {
    let fields: Vec<Value> = entry
        .fields
        .iter()
        .map(|(path, f)| {
            json!({
                "path": path,
                "types": f.types,
                "formats": f.formats,
                "count": f.count,
                "first_seen_at": format_ms(f.first_seen_at),
                "last_seen_at": format_ms(f.last_seen_at),
            })
        })
        .collect();
    let examples: Vec<Value> = entry
        .examples
        .iter()
        .rev()
        .map(|e| {
            json!({
                "event_id": e.event_id,
                "received_at": format_ms(e.received_at),
                "payload": e.payload,
            })
        })
        .collect();
    let records: Vec<Value> = entry
        .drift
        .records
        .iter()
        .map(|r| {
            json!({
                "kind": r.kind,
                "path": r.path,
                "from": r.from,
                "to": r.to,
                "first_seen_at": format_ms(r.first_seen_at),
                "event_id": r.event_id,
                "example": r.example,
            })
        })
        .collect();
    json!({
        "schema": { "truncated": entry.truncated, "fields": fields },
        "examples": examples,
        "drift": {
            "count": entry.drift.total,
            "last_at": entry.drift.last_at.map(format_ms),
            "dropped": entry.drift.dropped,
            "records": records,
        },
        "pii": entry.pii.to_json(),
    })
}
