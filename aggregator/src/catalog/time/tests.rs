use super::*;

#[test]
fn formats_epoch_and_known_instants() {
    assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(format_ms(1_780_928_100_000), "2026-06-08T14:15:00.000Z");
    assert_eq!(format_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
    assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
}

#[test]
fn parses_dates() {
    assert!(is_iso_date("2026-06-08"));
    assert!(!is_iso_date("2026-02-30"));
    assert!(!is_iso_date("2.11.1.1"));
    assert!(is_rfc3339("2026-06-08T14:15:00.000Z"));
    assert!(is_rfc3339("2026-06-08 14:15:00+02:00"));
    assert!(!is_rfc3339("2026-06-08T25:15:00Z"));
    assert!(!is_rfc3339("2026-06-08T14:15:00"));
    assert!(is_written_date("31/12/1990"));
    assert!(is_written_date("12/31/1990"));
    assert!(!is_written_date("31/31/1990"));
    assert!(is_date("1990-12-31"));
    assert!(!is_date("12345"));
}
