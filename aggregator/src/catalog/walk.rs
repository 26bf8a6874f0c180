//! Flattens a payload into path-addressed nodes, within the catalog's bounds.

use serde_json::Value;

use super::entry::Limits;
use super::formats;

/// Path segment standing for every key of a map-like object (or a data-like key).
pub const MAP_SEGMENT: &str = "{*}";

/// One value of the payload with its schema path.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// Schema path, e.g. `payload.items[].sku` or `payload.scores.{*}`.
    pub path: String,
    /// The value found there.
    pub value: &'a Value,
    /// Named keys from the root down to this value (masked map keys and array steps skipped).
    pub keys: Vec<&'a str>,
    /// The data-like key masked as `{*}` right above this value, kept for PII checks only.
    pub masked_key: Option<&'a str>,
}

/// The flattened payload and whether a bound cut anything.
#[derive(Debug, Clone, Default)]
pub struct Walk<'a> {
    /// Every node visited, parents before children.
    pub nodes: Vec<Node<'a>>,
    /// A bound (depth, array items, map entries, key length) left something out.
    pub truncated: bool,
}

/// Flattens `payload` under the root path `payload` (the root object itself is not a node).
pub fn walk<'a>(payload: &'a Value, limits: &Limits) -> Walk<'a> {
    let mut out = Walk::default();
    match payload {
        Value::Object(_) => children(payload, "payload", &[], 0, limits, &mut out),
        other => out.nodes.push(Node {
            path: "payload".to_string(),
            value: other,
            keys: Vec::new(),
            masked_key: None,
        }),
    }
    out
}

/// Records one node at `depth` (1 = a top-level payload key), then its children.
fn visit<'a>(
    value: &'a Value,
    path: String,
    keys: &[&'a str],
    masked_key: Option<&'a str>,
    depth: usize,
    limits: &Limits,
    out: &mut Walk<'a>,
) {
    if depth > limits.max_depth {
        out.truncated = true;
        return;
    }
    out.nodes.push(Node {
        path: path.clone(),
        value,
        keys: keys.to_vec(),
        masked_key,
    });
    children(value, &path, keys, depth, limits, out);
}

/// Visits the elements of an array or the entries of an object.
fn children<'a>(
    value: &'a Value,
    path: &str,
    keys: &[&'a str],
    depth: usize,
    limits: &Limits,
    out: &mut Walk<'a>,
) {
    match value {
        Value::Array(items) => {
            if items.len() > limits.max_array_items {
                out.truncated = true;
            }
            let child = format!("{path}[]");
            for item in items.iter().take(limits.max_array_items) {
                visit(item, child.clone(), keys, None, depth + 1, limits, out);
            }
        }
        Value::Object(map) => {
            let map_like = formats::is_map_like(map);
            // Map entries are as unbounded as array items, so the same cap applies.
            if map_like && map.len() > limits.max_array_items {
                out.truncated = true;
            }
            let cap = if map_like {
                limits.max_array_items
            } else {
                usize::MAX
            };
            for (k, v) in map.iter().take(cap) {
                if k.len() > limits.max_key_bytes {
                    out.truncated = true;
                    continue;
                }
                if map_like || formats::is_dynamic_key(k) {
                    visit(
                        v,
                        child_path(path, MAP_SEGMENT),
                        keys,
                        Some(k.as_str()),
                        depth + 1,
                        limits,
                        out,
                    );
                } else {
                    let mut child_keys = keys.to_vec();
                    child_keys.push(k.as_str());
                    visit(
                        v,
                        child_path(path, k),
                        &child_keys,
                        None,
                        depth + 1,
                        limits,
                        out,
                    );
                }
            }
        }
        _ => {}
    }
}

/// `path.key`, built directly: asked for every key of every event, and `format!` was a
/// visible share of the catalog's CPU.
fn child_path(path: &str, key: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1 + key.len());
    out.push_str(path);
    out.push('.');
    out.push_str(key);
    out
}

#[cfg(test)]
mod tests;
