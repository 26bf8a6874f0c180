use super::*;
use serde_json::json;

#[test]
fn string_formats() {
    assert_eq!(string_format("olivia@example.com"), Some("email"));
    assert_eq!(string_format("https://example.com/a"), Some("uri"));
    assert_eq!(string_format("mailto:x"), Some("uri"));
    assert_eq!(
        string_format("0196f1c2-7a4b-7c3d-8e9f-0123456789ab"),
        Some("uuid")
    );
    assert_eq!(string_format("2026-06-08T14:15:00.000Z"), Some("date-time"));
    assert_eq!(string_format("2026-06-08"), Some("date-time"));
    assert_eq!(string_format("10.0.0.1"), Some("ip"));
    assert_eq!(string_format("ord_123"), None);
    assert_eq!(string_format("USD"), None);
}

#[test]
fn masks_strings_by_class() {
    assert_eq!(mask_string("olivia@example.com"), "<email>");
    assert_eq!(mask_string("4111 1111 1111 1111"), "<card>");
    assert_eq!(mask_string("+4915112345678"), "<phone>");
    assert_eq!(mask_string("ord_123"), "<string:7>");
    assert_eq!(mask_string("héllo"), "<string:5>");
}

#[test]
fn map_like_objects() {
    let digits = json!({"1": 1, "2": 2});
    let emails = json!({"a@example.com": 1});
    let plain = json!({"sku": "x", "qty": 1});
    let wide: serde_json::Map<String, serde_json::Value> =
        (0..20).map(|i| (format!("k{i}x"), json!(i))).collect();
    let is_map = |v: &serde_json::Value| v.as_object().is_some_and(is_map_like);
    assert!(is_map(&digits));
    assert!(is_map(&emails));
    assert!(!is_map(&plain));
    assert!(!is_map(&json!({})));
    assert!(is_map_like(&wide));
}
