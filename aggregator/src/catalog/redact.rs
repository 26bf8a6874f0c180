//! Redaction: keeps the payload's structure, replaces every string and number by its class mask.

use serde_json::{Map, Value};

use super::formats;

/// Array elements (and map-like entries) kept in a redacted payload.
pub const MAX_ITEMS: usize = 10;
/// Nesting kept in a redacted payload; deeper values become `"<truncated>"`.
pub const MAX_DEPTH: usize = 32;
/// Keys longer than this (bytes) are masked: they are free text, not field names.
const MAX_KEY_BYTES: usize = 200;

/// Returns `value` with every string and number masked (`<email>`, `<string:12>`, `<integer>`),
/// booleans and nulls kept, data-like keys masked as `<key>` and arrays cut to their first 10 items.
pub fn redact(value: &Value) -> Value {
    redact_at(value, 0)
}

/// Redacts one value at `depth`.
fn redact_at(value: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::String("<truncated>".to_string());
    }
    match value {
        Value::Null | Value::Bool(_) => value.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => Value::String("<integer>".to_string()),
        Value::Number(_) => Value::String("<number>".to_string()),
        Value::String(s) => Value::String(formats::mask_string(s)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .take(MAX_ITEMS)
                .map(|v| redact_at(v, depth + 1))
                .collect(),
        ),
        Value::Object(map) => Value::Object(redact_object(map, depth)),
    }
}

/// Redacts an object's values and masks its data-like keys (all keys when it is map-like).
fn redact_object(map: &Map<String, Value>, depth: usize) -> Map<String, Value> {
    let map_like = formats::is_map_like(map);
    let cap = if map_like { MAX_ITEMS } else { usize::MAX };
    let mut out = Map::new();
    let mut masked = 0;
    for (k, v) in map.iter().take(cap) {
        let mask = map_like || k.len() > MAX_KEY_BYTES || formats::is_dynamic_key(k);
        let key = if mask {
            masked += 1;
            // Numbered after the first so masked keys don't collide in the JSON object.
            if masked == 1 {
                "<key>".to_string()
            } else {
                format!("<key:{masked}>")
            }
        } else {
            k.clone()
        };
        out.insert(key, redact_at(v, depth + 1));
    }
    out
}

#[cfg(test)]
mod tests;
