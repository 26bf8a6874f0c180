use super::*;
use serde_json::json;

#[test]
fn email_needs_dot_domain_and_alphabetic_tld() {
    assert!(is_email("olivia@example.com"));
    assert!(is_email("o.k+tag@mail.example.co.uk"));
    assert!(!is_email("olivia@localhost"));
    assert!(!is_email("olivia@example.c0m"));
    assert!(!is_email("olivia@example.c"));
    assert!(!is_email("@example.com"));
    assert!(!is_email("not an email"));
    assert!(!is_email("a@b@c.com"));
}

#[test]
fn card_validates_iin_length_and_luhn() {
    assert!(is_card(&json!("4111111111111111")));
    assert!(is_card(&json!("4111 1111 1111 1111")));
    assert!(is_card(&json!("4111-1111-1111-1111")));
    assert!(
        is_card(&json!(4_111_111_111_111_111_u64)),
        "JSON integers are scanned too"
    );
    assert!(is_card(&json!("5555555555554444")), "Mastercard 51-55");
    assert!(is_card(&json!("2223003122003222")), "Mastercard 2221-2720");
    assert!(is_card(&json!("378282246310005")), "Amex");
}

#[test]
fn card_rejects_ids_timestamps_and_bad_checksums() {
    assert!(!is_card(&json!("1234567890")), "10-digit order number");
    assert!(!is_card(&json!(1_234_567_890)));
    assert!(!is_card(&json!("4111111111111112")), "Luhn fails");
    assert!(!is_card(&json!(1_780_928_100_000_i64)), "ms timestamp");
    assert!(!is_card(&json!("1780928100000")));
    assert!(!is_card(&json!("0000000000000000")), "all same digits");
    assert!(!is_card(&json!("9111111111111110")), "unknown IIN");
    assert!(!is_card(&json!(4111.5)));
}

#[test]
fn iban_checks_mod97() {
    assert!(is_iban("DE89370400440532013000"));
    assert!(is_iban("GB82 WEST 1234 5698 7654 32"));
    assert!(
        is_iban("de89370400440532013000"),
        "lower case is still an IBAN"
    );
    assert!(!is_iban("DE89370400440532013001"), "checksum fails");
    assert!(!is_iban("XX89370400440532013000"), "unknown country");
    assert!(!is_iban("DE8937040044053201300"), "wrong length");
}

#[test]
fn ssn_applies_invalidation_rules() {
    assert!(is_ssn_delimited("536-22-1234"));
    assert!(!is_ssn_delimited("666-22-1234"), "area 666");
    assert!(!is_ssn_delimited("000-22-1234"), "area 000");
    assert!(!is_ssn_delimited("912-22-1234"), "area 9xx");
    assert!(!is_ssn_delimited("536-00-1234"), "group 00");
    assert!(!is_ssn_delimited("536-22-0000"), "serial 0000");
    assert!(!is_ssn_delimited("111-11-1111"), "same digits");
    assert!(!is_ssn_delimited("078-05-1120"), "sample number");
    assert!(!is_ssn_delimited("536221234"));
    assert!(is_ssn_bare(&json!("536221234")));
    assert!(is_ssn_bare(&json!(536_221_234)));
    assert!(
        !is_ssn_bare(&json!(1_234_567)),
        "short integers are not padded into SSNs"
    );
}

#[test]
fn ip_parses_with_std_net() {
    assert!(parse_ip("192.168.1.20").is_some());
    assert!(parse_ip("2001:db8::1").is_some());
    assert!(parse_ip("::").is_none());
    assert!(parse_ip("1.2.3").is_none());
    assert!(parse_ip("73.0.3683.86").is_none());
    // The byte prefilter keeps every form std accepts.
    assert!(parse_ip(" 10.0.0.1 ").is_some(), "trimmed first");
    assert!(parse_ip("::ffff:10.0.0.1").is_some(), "IPv4-mapped");
    assert!(parse_ip("FE80::1").is_some(), "upper-case hex");
    assert!(parse_ip("ord_1").is_none());
}

#[test]
fn iban_prefilter_keeps_spaced_forms() {
    assert!(is_iban(" DE89 3704 0044 0532 0130 00"));
    assert!(!is_iban("D"));
    assert!(!is_iban("12345678901234567890"), "no country code");
}

#[test]
fn phone_shapes() {
    assert!(is_e164_like("+4915112345678"));
    assert!(is_e164_like("+1 (415) 555-0890"));
    assert!(
        !is_e164_like("4915112345678"),
        "no plus, no key: not a phone"
    );
    assert!(!is_e164_like("+123"));
    assert!(is_phone_shaped(&json!("(415) 555-0890")));
    assert!(is_phone_shaped(&json!(4_915_112_345_678_u64)));
    assert!(!is_phone_shaped(&json!(3)));
    assert!(!is_phone_shaped(&json!("call me")));
}
