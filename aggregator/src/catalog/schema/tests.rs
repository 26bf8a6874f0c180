use super::*;
use crate::catalog::walk::walk;
use serde_json::json;

fn absorb(fields: &mut BTreeMap<String, FieldStats>, p: &Value, event: u64) -> Merged {
    let limits = Limits::default();
    let w = walk(p, &limits);
    merge(
        fields,
        &observe(&w.nodes),
        event,
        event as i64 * 1000,
        &limits,
    )
}

#[test]
fn json_types() {
    assert_eq!(json_type(&json!(1)), "integer");
    assert_eq!(json_type(&json!(u64::MAX)), "integer");
    assert_eq!(json_type(&json!(1.5)), "number");
    assert_eq!(json_type(&json!(null)), "null");
    assert_eq!(json_type(&json!([])), "array");
}

#[test]
fn counts_types_formats_and_presence() {
    let mut fields = BTreeMap::new();
    absorb(
        &mut fields,
        &json!({"id": 1, "at": "2026-06-08", "tags": ["a", 2]}),
        1,
    );
    absorb(&mut fields, &json!({"id": "x", "at": null}), 2);
    let id = fields.get("payload.id").expect("id");
    assert_eq!(id.types.get("integer"), Some(&1));
    assert_eq!(id.types.get("string"), Some(&1));
    assert_eq!(id.count, 2);
    assert_eq!((id.first_seen_at, id.last_seen_at), (1000, 2000));
    let at = fields.get("payload.at").expect("at");
    assert_eq!(at.formats.get("date-time"), Some(&1));
    assert_eq!(at.non_null(), 1);
    let tags = fields.get("payload.tags[]").expect("tags");
    assert_eq!(tags.types.len(), 2);
    assert_eq!(tags.count, 1);
    assert!((tags.presence() - 1.0).abs() < f64::EPSILON);
}

#[test]
fn reports_added_paths_and_new_types_with_dominant_from() {
    let mut fields = BTreeMap::new();
    let first = absorb(&mut fields, &json!({"n": 1}), 1);
    assert_eq!(first.changes, [Change::Added("payload.n".into())]);
    absorb(&mut fields, &json!({"n": 2}), 2);
    let flip = absorb(&mut fields, &json!({"n": 2.5}), 3);
    assert_eq!(
        flip.changes,
        [Change::NewType {
            path: "payload.n".into(),
            from: "integer".into(),
            to: "number".into(),
            widening: true,
        }]
    );
    let s = absorb(&mut fields, &json!({"n": "two"}), 4);
    assert!(
        matches!(&s.changes[..], [Change::NewType { to, widening: false, .. }] if to == "string")
    );
}

#[test]
fn path_cap_truncates_instead_of_dropping_silently() {
    let mut fields = BTreeMap::new();
    let limits = Limits {
        max_paths: 2,
        ..Limits::default()
    };
    let p = json!({"a": 1, "b": 2, "c": 3});
    let w = walk(&p, &limits);
    let m = merge(&mut fields, &observe(&w.nodes), 1, 0, &limits);
    assert!(m.truncated);
    assert_eq!(fields.len(), 2);
}
