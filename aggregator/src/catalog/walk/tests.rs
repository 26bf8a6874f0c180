use super::*;
use serde_json::json;

fn paths(w: &Walk<'_>) -> Vec<String> {
    w.nodes.iter().map(|n| n.path.clone()).collect()
}

#[test]
fn nested_array_and_map_paths() {
    let p = json!({
        "a": {"b": 1},
        "items": [{"sku": "x"}, {"sku": "y", "qty": 2}],
        "tags": ["t1", "t2"],
        "scores": {"17": 1, "42": 2},
    });
    let w = walk(&p, &Limits::default());
    let got = paths(&w);
    for want in [
        "payload.a",
        "payload.a.b",
        "payload.items",
        "payload.items[]",
        "payload.items[].sku",
        "payload.items[].qty",
        "payload.tags[]",
        "payload.scores.{*}",
    ] {
        assert!(got.iter().any(|g| g == want), "{want} in {got:?}");
    }
    assert!(
        !got.iter().any(|g| g.contains("17")),
        "map keys never reach paths"
    );
    assert!(!w.truncated);
}

#[test]
fn keys_down_skip_masked_segments() {
    let p = json!({"contacts": {"olivia@example.com": {"phone": "+4915112345678"}}});
    let w = walk(&p, &Limits::default());
    let leaf = w
        .nodes
        .iter()
        .find(|n| n.path == "payload.contacts.{*}.phone");
    assert_eq!(
        leaf.map(|n| n.keys.clone()),
        Some(vec!["contacts", "phone"])
    );
}

#[test]
fn bounds_set_truncated() {
    let limits = Limits {
        max_depth: 2,
        max_array_items: 2,
        max_key_bytes: 5,
        ..Limits::default()
    };
    let (d, wv, k) = (
        json!({"a": {"b": {"c": 1}}}),
        json!({"a": [1, 2, 3]}),
        json!({"abcdefgh": 1}),
    );
    let deep = walk(&d, &limits);
    assert!(deep.truncated);
    assert!(!paths(&deep).contains(&"payload.a.b.c".to_string()));
    let wide = walk(&wv, &limits);
    assert!(wide.truncated);
    assert_eq!(wide.nodes.len(), 3);
    let long_key = walk(&k, &limits);
    assert!(long_key.truncated && long_key.nodes.is_empty());
}

#[test]
fn non_object_payload_is_one_node() {
    let five = json!(5);
    let w = walk(&five, &Limits::default());
    assert_eq!(paths(&w), ["payload"]);
}
