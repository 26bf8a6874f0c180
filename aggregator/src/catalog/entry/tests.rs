use super::*;
use serde_json::json;

const DAY: i64 = 86_400_000;
const T0: i64 = 1_780_928_100_000;

fn small() -> Limits {
    Limits {
        baseline_events: 2,
        missing_after_events: 3,
        missing_after_ms: DAY,
        ..Limits::default()
    }
}

fn flag<'a>(e: &'a Entry, path: &str, category: &str) -> Option<&'a super::super::pii::Flag> {
    e.pii
        .flags
        .iter()
        .find(|f| f.path == path && f.category == category)
}

#[test]
fn absorb_builds_schema_examples_and_flags() {
    let mut e = Entry::default();
    let l = Limits::default();
    for i in 0..5 {
        let p = json!({"email": "olivia@example.com", "amount": 4900, "items": [{"sku": "A"}]});
        e.absorb(&p, T0 + i, &format!("ev{i}"), &l);
    }
    assert_eq!(e.events(), 5);
    assert_eq!(e.seen_range(), Some((T0, T0 + 4)));
    assert_eq!(e.examples.len(), 3);
    assert!(e.pii_likely());
    let f = flag(&e, "payload.email", "email").expect("email flag");
    assert_eq!(f.matched_on.as_str(), "key+value");
    let d = e.detail_json();
    assert_eq!(d["examples"][0]["event_id"], "ev4", "newest first");
    assert_eq!(d["examples"][0]["payload"]["email"], "<email>");
    assert_eq!(d["examples"][0]["received_at"], "2026-06-08T14:15:00.004Z");
    let fields = d["schema"]["fields"].as_array().expect("fields");
    let sku = fields
        .iter()
        .find(|f| f["path"] == "payload.items[].sku")
        .expect("sku");
    assert_eq!(sku["types"]["string"], 5);
    assert_eq!(d["schema"]["truncated"], false);
    assert!(
        !d.to_string().contains("olivia"),
        "no payload value anywhere"
    );
}

#[test]
fn phone_needs_repetition_without_key_but_not_with_it() {
    let mut e = Entry::default();
    let l = Limits::default();
    let p = json!({"contact": "+4915112345678", "phone": "+4915112345678"});
    e.absorb(&p, T0, "ev1", &l);
    assert!(
        flag(&e, "payload.phone", "phone").is_some(),
        "key hint: first hit"
    );
    assert!(flag(&e, "payload.contact", "phone").is_none());
    e.absorb(&p, T0 + 1, "ev2", &l);
    e.absorb(&p, T0 + 2, "ev3", &l);
    let f = flag(&e, "payload.contact", "phone").expect("after 3 hits");
    assert_eq!(f.matched_on.as_str(), "value");
}

#[test]
fn ip_value_needs_half_of_values() {
    let mut e = Entry::default();
    let l = Limits::default();
    for i in 0..6 {
        e.absorb(&json!({"peer": format!("host{i}")}), T0, "ev", &l);
    }
    for _ in 0..3 {
        e.absorb(&json!({"peer": "10.0.0.1"}), T0, "ev", &l);
    }
    assert!(flag(&e, "payload.peer", "ip").is_none(), "3 of 9 values");
    for _ in 0..3 {
        e.absorb(&json!({"peer": "10.0.0.2"}), T0, "ev", &l);
    }
    assert!(flag(&e, "payload.peer", "ip").is_some(), "6 of 12 values");
}

#[test]
fn dismissal_sticks_until_new_evidence() {
    let mut e = Entry::default();
    let l = Limits::default();
    e.absorb(&json!({"contact": "ops@example.com"}), T0, "ev1", &l);
    assert_eq!(e.decide("payload.contact", FlagStatus::Dismissed), Ok(()));
    assert!(!e.pii_likely());
    e.absorb(&json!({"contact": "ops@example.com"}), T0 + 1, "ev2", &l);
    assert!(!e.pii_likely(), "same evidence");
    e.absorb(&json!({"contact": "+4915112345678"}), T0 + 2, "ev3", &l);
    assert!(!e.pii_likely(), "one weak phone hit is not evidence yet");
    e.absorb(&json!({"contact": {"city": "Berlin"}}), T0 + 3, "ev4", &l);
    assert!(e.pii_likely(), "a new category on another path");
    assert_eq!(
        e.decide("payload.nothing", FlagStatus::Dismissed),
        Err(NoSuchFlag)
    );
    assert_eq!(NoSuchFlag.to_string(), "no PII flag at this path");
}

#[test]
fn drift_summary_and_check_missing() {
    let mut e = Entry::default();
    let l = small();
    for i in 0..4 {
        e.absorb(&json!({"a": 1, "b": 2}), T0 + i, &format!("ev{i}"), &l);
    }
    for i in 4..8 {
        e.absorb(&json!({"a": 1}), T0 + i, &format!("ev{i}"), &l);
    }
    assert_eq!(
        e.drift_summary(),
        (0, None),
        "absent long enough by count, not by time"
    );
    e.check_missing(T0 + 2 * DAY, &l);
    assert_eq!(e.drift_summary(), (1, Some(T0 + 2 * DAY)));
    let d = e.detail_json();
    let r = &d["drift"]["records"][0];
    assert_eq!(r["kind"], "field_missing");
    assert_eq!(r["path"], "payload.b");
    assert_eq!(r["event_id"], "ev7");
    assert_eq!(r["example"], json!({"a": "<integer>"}));
    e.check_missing(T0 + 3 * DAY, &l);
    assert_eq!(e.drift_summary().0, 1, "recorded once");
}

#[test]
fn purge_before_removes_old_examples() {
    let mut e = Entry::default();
    let l = small();
    for i in 0..4 {
        e.absorb(&json!({ format!("k{i}"): 1 }), T0 + i * DAY, "ev", &l);
    }
    assert!(e.purge_before(T0 + 3 * DAY));
    assert_eq!(e.examples.len(), 1);
    let d = e.detail_json();
    assert_eq!(d["drift"]["count"], 2);
    assert!(d["drift"]["records"][0]["example"].is_null());
    assert!(
        d["drift"]["records"][1]["example"].is_object(),
        "newer record keeps it"
    );
    assert!(!e.purge_before(T0 + 3 * DAY), "nothing more");
}

#[test]
fn truncation_is_visible() {
    let mut e = Entry::default();
    let l = Limits {
        max_paths: 1,
        ..Limits::default()
    };
    e.absorb(&json!({"a": 1, "b": 2}), T0, "ev", &l);
    assert!(e.truncated());
    assert_eq!(e.detail_json()["schema"]["truncated"], true);
}

#[test]
fn serde_round_trip() {
    let mut e = Entry::default();
    let l = small();
    for i in 0..5 {
        let p =
            json!({"email": "olivia@example.com", "n": if i < 3 { json!(1) } else { json!("x") }});
        e.absorb(&p, T0 + i, "ev", &l);
    }
    e.decide("payload.email", FlagStatus::Confirmed)
        .expect("flag exists");
    let text = serde_json::to_string(&e).expect("serialize");
    assert!(!text.contains("olivia"));
    let back: Entry = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, e);
    let empty: Entry = serde_json::from_str("{}").expect("defaults");
    assert_eq!(empty, Entry::default());
}

#[test]
fn email_keyed_maps_are_flagged_on_the_masked_path() {
    let mut e = Entry::default();
    e.absorb(
        &json!({"opens": {"olivia@example.com": 3}}),
        T0,
        "ev",
        &Limits::default(),
    );
    assert!(flag(&e, "payload.opens.{*}", "email").is_some());
    let text = e.detail_json().to_string();
    assert!(!text.contains("olivia"));
    assert!(text.contains("payload.opens.{*}"));
}

#[test]
fn volume_counts_per_day_and_keeps_the_latest_days() {
    let day = 86_400_000;
    let mut volume = Volume::default();
    volume.count(5 * day + 10);
    volume.count(5 * day + 20);
    volume.count(3 * day);
    let mut entry = Entry {
        volume: volume.clone(),
        ..Entry::default()
    };
    assert_eq!(entry.daily_volume(), &[(3, 1), (5, 2)]);
    for d in 10..(10 + VOLUME_DAYS as i64) {
        entry.volume.count(d * day);
    }
    assert_eq!(entry.daily_volume().len(), VOLUME_DAYS);
    assert_eq!(entry.daily_volume()[0], (10, 1));
    // A day older than every kept one is not counted (it would be dropped at once).
    entry.volume.count(day);
    assert_eq!(entry.daily_volume()[0], (10, 1));
}
