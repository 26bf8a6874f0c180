use super::*;

#[test]
fn strongest_signal_wins() {
    let mut pii = Pii::default();
    pii.raise("payload.email", "email", MatchedOn::Key, "key_name", 1);
    pii.raise(
        "payload.email",
        "email",
        MatchedOn::KeyValue,
        "email_value",
        2,
    );
    pii.raise("payload.email", "email", MatchedOn::Value, "email_value", 3);
    assert_eq!(pii.flags.len(), 1);
    let f = &pii.flags[0];
    assert_eq!((f.matched_on, f.first_seen_at), (MatchedOn::KeyValue, 1));
    assert_eq!(f.detector, "email_value");
}

#[test]
fn dismissal_sticks_until_stronger_evidence() {
    let mut pii = Pii::default();
    pii.raise("payload.note", "email", MatchedOn::Value, "email_value", 1);
    assert_eq!(pii.decide("payload.note", FlagStatus::Dismissed), Ok(()));
    assert!(!pii.likely());
    pii.raise("payload.note", "email", MatchedOn::Value, "email_value", 2);
    pii.raise("payload.note", "email", MatchedOn::Key, "key_name", 2);
    assert!(!pii.likely(), "same or weaker evidence keeps it dismissed");
    pii.raise("payload.note", "phone", MatchedOn::Value, "phone_e164", 3);
    assert!(pii.likely(), "a new category is a new flag");
    assert_eq!(pii.flags[0].status, FlagStatus::Dismissed);
    pii.raise(
        "payload.note",
        "email",
        MatchedOn::KeyValue,
        "email_value",
        4,
    );
    assert_eq!(
        pii.flags[0].status,
        FlagStatus::Detected,
        "stronger evidence reopens"
    );
}

#[test]
fn confirmed_stays_confirmed() {
    let mut pii = Pii::default();
    pii.raise("payload.name", "name", MatchedOn::Key, "key_name", 1);
    assert_eq!(pii.decide("payload.name", FlagStatus::Confirmed), Ok(()));
    pii.raise("payload.name", "name", MatchedOn::KeyValue, "x", 2);
    assert_eq!(pii.flags[0].status, FlagStatus::Confirmed);
    assert_eq!(
        pii.decide("payload.other", FlagStatus::Confirmed),
        Err(NoSuchFlag)
    );
}

#[test]
fn weak_hits_need_three_and_half() {
    let mut pii = Pii::default();
    pii.tally("payload.x", "phone");
    pii.tally("payload.x", "phone");
    pii.promote("payload.x", 2, 1);
    assert!(pii.flags.is_empty(), "two hits");
    pii.tally("payload.x", "phone");
    pii.promote("payload.x", 7, 2);
    assert!(pii.flags.is_empty(), "three of seven is under half");
    pii.promote("payload.x", 6, 3);
    assert_eq!(pii.flags.len(), 1);
    assert_eq!(pii.flags[0].detector, "phone_e164");
}

#[test]
fn json_shape() {
    let mut pii = Pii::default();
    pii.raise("payload.card", "card", MatchedOn::Value, "card_luhn", 0);
    let j = pii.to_json();
    assert_eq!(j["likely"], true);
    assert_eq!(j["flags"][0]["matched_on"], "value");
    assert_eq!(j["flags"][0]["status"], "detected");
    assert_eq!(j["flags"][0]["first_seen_at"], "1970-01-01T00:00:00.000Z");
}
