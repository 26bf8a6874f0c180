use super::*;
use proptest::prelude::*;
use serde_json::json;

#[test]
fn masks_values_keeps_structure() {
    let p = json!({
        "order_id": "ord_123",
        "amount": 4900,
        "ratio": 0.5,
        "email": "olivia@example.com",
        "site": "https://example.com/x",
        "id": "0196f1c2-7a4b-7c3d-8e9f-0123456789ab",
        "at": "2026-06-08T14:15:00.000Z",
        "ip": "10.0.0.1",
        "card": "4111111111111111",
        "phone": "+4915112345678",
        "gift": true,
        "note": null,
        "items": [{"sku": "A-1", "qty": 2}],
    });
    let want = json!({
        "order_id": "<string:7>",
        "amount": "<integer>",
        "ratio": "<number>",
        "email": "<email>",
        "site": "<uri>",
        "id": "<uuid>",
        "at": "<date-time>",
        "ip": "<ip>",
        "card": "<card>",
        "phone": "<phone>",
        "gift": true,
        "note": null,
        "items": [{"sku": "<string:3>", "qty": "<integer>"}],
    });
    assert_eq!(redact(&p), want);
}

#[test]
fn masks_map_keys_and_caps_arrays() {
    let p = json!({
        "scores": {"1001": 5, "1002": 6},
        "by_email": {"olivia@example.com": 1},
        "list": (0..25).collect::<Vec<i32>>(),
    });
    let r = redact(&p);
    assert_eq!(
        r["scores"],
        json!({"<key>": "<integer>", "<key:2>": "<integer>"})
    );
    assert_eq!(r["by_email"], json!({"<key>": "<integer>"}));
    assert_eq!(r["list"].as_array().map(Vec::len), Some(MAX_ITEMS));
}

#[test]
fn caps_depth() {
    let mut v = json!(1);
    for _ in 0..40 {
        v = json!({ "k": v });
    }
    let s = redact(&v).to_string();
    assert!(s.contains("<truncated>"));
}

/// JSON trees with fixed keys and values whose text can't collide with any mask vocabulary
/// (masks are lower-case; numbers inside masks have at most 2 digits).
fn tree() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        "[A-Z0-9@.:/+ _-]{0,24}",
        "[A-Z]{1,8}@[A-Z]{2,8}\\.COM",
        "\\+[1-9][0-9]{8,13}",
        "[0-9]{3}-[0-9]{2}-[0-9]{4}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
            prop::collection::btree_map("k[0-9]", inner.clone(), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            prop::collection::btree_map("[0-9]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every string value in a tree.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| strings(i, out)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn no_value_survives_redaction(v in tree()) {
        let out = redact(&v).to_string();
        let mut inputs = Vec::new();
        strings(&v, &mut inputs);
        for s in inputs.iter().filter(|s| s.chars().count() >= 4) {
            prop_assert!(!out.contains(s.as_str()), "{s:?} leaked into {out}");
        }
        let longest_digit_run = out
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        prop_assert!(longest_digit_run < 3, "digits leaked into {out}");
    }
}
