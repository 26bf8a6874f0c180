use super::*;
use serde_json::json;

/// Findings for `value` under the path keys `keys_down`, as (category, matched_on, weak).
fn run(keys_down: &[&str], value: Value) -> Vec<(&'static str, &'static str, bool)> {
    classify(&leaf_hints(keys_down), &value)
        .into_iter()
        .map(|f| (f.category, f.matched_on.as_str(), f.weak))
        .collect()
}

#[test]
fn email_by_value_and_key() {
    assert_eq!(
        run(&["contact"], json!("olivia@example.com")),
        [("email", "value", false)]
    );
    assert_eq!(
        run(&["email"], json!("olivia@example.com")),
        [("email", "key+value", false)]
    );
    assert_eq!(run(&["email"], json!("pending")), [("email", "key", false)]);
    assert!(
        run(&["email"], json!(true)).is_empty(),
        "booleans carry no PII"
    );
    assert!(run(&["email"], json!(null)).is_empty());
    assert!(run(&["email"], json!("")).is_empty());
}

#[test]
fn cards_strings_and_integers_not_order_numbers() {
    assert_eq!(
        run(&["ref"], json!("4111111111111111")),
        [("card", "value", false)]
    );
    assert_eq!(
        run(&["ref"], json!(4_111_111_111_111_111_u64)),
        [("card", "value", false)]
    );
    assert!(run(&["order_number"], json!("1234567890")).is_empty());
    assert!(run(&["order_number"], json!(1_234_567_890)).is_empty());
}

#[test]
fn date_of_birth_needs_key_and_date() {
    assert_eq!(
        run(&["birth_date"], json!("2026-06-08")),
        [("date_of_birth", "key+value", false)]
    );
    assert!(run(&["shipped_on"], json!("2026-06-08")).is_empty());
    assert!(run(&["birth_date"], json!("soon")).is_empty());
}

#[test]
fn names_from_key_only() {
    assert_eq!(
        run(&["first_name"], json!("Olivia")),
        [("name", "key", false)]
    );
    assert!(run(&["event_name"], json!("Olivia")).is_empty());
    assert!(run(&["product_name"], json!("Olivia")).is_empty());
}

#[test]
fn secrets_by_key_and_value() {
    assert!(run(&["token_count"], json!(1500)).is_empty());
    assert!(run(&["passenger"], json!("Olivia")).is_empty());
    assert_eq!(
        run(&["password"], json!("hunter2")),
        [("secret", "key", false)]
    );
    assert_eq!(
        run(&["api_key"], json!("sk_live_4eC39HqLyjWDarjtT1zdp7dc")),
        [("secret", "key+value", false)]
    );
    assert_eq!(
        run(&["header"], json!("Bearer abcdefgh12345678")),
        [("secret", "value", false)]
    );
}

#[test]
fn ssn_cases() {
    assert_eq!(
        run(&["ssn"], json!("536221234")),
        [("national_id", "key+value", false)]
    );
    assert_eq!(
        run(&["ref"], json!("536-22-1234")),
        [("national_id", "value", true)]
    );
    assert!(
        run(&["ref"], json!("536221234")).is_empty(),
        "bare 9 digits need a key"
    );
    assert!(run(&["ref"], json!("666-22-1234")).is_empty());
}

#[test]
fn ip_skips_version_keys() {
    assert!(run(&["app_version"], json!("1.2.3.4")).is_empty());
    assert!(run(&["user_agent"], json!("10.0.0.1")).is_empty());
    assert_eq!(run(&["peer"], json!("10.0.0.1")), [("ip", "value", true)]);
    assert_eq!(
        run(&["client_ip"], json!("10.0.0.1")),
        [("ip", "key+value", false)]
    );
}

#[test]
fn phone_weak_without_key_strong_with_it() {
    assert_eq!(
        run(&["contact"], json!("+4915112345678")),
        [("phone", "value", true)]
    );
    assert_eq!(
        run(&["phone"], json!("+4915112345678")),
        [("phone", "key+value", false)]
    );
    assert_eq!(
        run(&["phone"], json!(4_915_112_345_678_u64)),
        [("phone", "key+value", false)]
    );
    assert!(run(&["phone_count"], json!(3)).is_empty());
    assert!(
        run(&["qty"], json!("491511234567")).is_empty(),
        "no plus, no key"
    );
}

#[test]
fn address_from_key_or_enclosing_key() {
    assert_eq!(run(&["city"], json!("Berlin")), [("address", "key", false)]);
    assert_eq!(
        run(&["address", "line1"], json!("Main St 1")),
        [("address", "key", false)]
    );
    assert!(run(&["state"], json!("shipped")).is_empty());
    assert_eq!(
        run(&["iban"], json!("DE89370400440532013000")),
        [("bank_account", "key+value", false)]
    );
}

#[test]
fn masked_keys() {
    let f = classify_masked_key("olivia@example.com").map(|f| (f.category, f.weak));
    assert_eq!(f, Some(("email", false)));
    assert!(classify_masked_key("1001").is_none());
}
