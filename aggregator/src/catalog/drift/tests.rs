use super::*;
use crate::catalog::schema::{merge, observe};
use crate::catalog::walk::walk;
use serde_json::json;

const HOUR: i64 = 3_600_000;

fn limits() -> Limits {
    Limits {
        baseline_events: 2,
        missing_after_events: 3,
        missing_after_ms: HOUR,
        ..Limits::default()
    }
}

/// Folds event `n` (at n hours) into fields and log, as absorb does.
fn step(fields: &mut BTreeMap<String, FieldStats>, log: &mut DriftLog, p: &Value, n: u64) {
    step_with(fields, log, p, n, &limits());
}

/// [`step`] with explicit limits.
fn step_with(
    fields: &mut BTreeMap<String, FieldStats>,
    log: &mut DriftLog,
    p: &Value,
    n: u64,
    l: &Limits,
) {
    let at = n as i64 * HOUR;
    let w = walk(p, l);
    let m = merge(fields, &observe(&w.nodes), n, at, l);
    let ex = json!({"redacted": true});
    let id = format!("ev{n}");
    let wit = Witness {
        event_id: Some(&id),
        at,
        example: Some(Shown::Redacted(&ex)),
    };
    log.apply(&m.changes, n, wit, l);
    log.check_missing(fields, n, wit, l);
}

fn kinds(log: &DriftLog) -> Vec<(DriftKind, &str)> {
    log.records
        .iter()
        .map(|r| (r.kind, r.path.as_str()))
        .collect()
}

#[test]
fn added_after_baseline_only() {
    let (mut f, mut log) = (BTreeMap::new(), DriftLog::default());
    step(&mut f, &mut log, &json!({"a": 1}), 1);
    step(&mut f, &mut log, &json!({"a": 1, "b": 1}), 2);
    assert!(log.records.is_empty(), "within the baseline");
    step(&mut f, &mut log, &json!({"a": 1, "b": 1, "c": 1}), 3);
    assert_eq!(kinds(&log), [(DriftKind::FieldAdded, "payload.c")]);
    assert_eq!(log.records[0].event_id.as_deref(), Some("ev3"));
    assert!(log.records[0].example.is_some());
    assert_eq!(log.total, 1);
    assert_eq!(log.last_at, Some(3 * HOUR));
}

#[test]
fn type_change_but_not_widening_nor_null() {
    let (mut f, mut log) = (BTreeMap::new(), DriftLog::default());
    for n in 1..=3 {
        step(&mut f, &mut log, &json!({"n": 1}), n);
    }
    step(&mut f, &mut log, &json!({"n": 1.5}), 4);
    step(&mut f, &mut log, &json!({"n": null}), 5);
    assert!(log.records.is_empty(), "{:?}", log.records);
    step(&mut f, &mut log, &json!({"n": "1"}), 6);
    step(&mut f, &mut log, &json!({"n": "2"}), 7);
    assert_eq!(kinds(&log), [(DriftKind::TypeChanged, "payload.n")]);
    let r = &log.records[0];
    assert_eq!(
        (r.from.as_deref(), r.to.as_deref()),
        (Some("integer"), Some("string"))
    );
}

#[test]
fn missing_after_events_and_time_once_per_absence() {
    let (mut f, mut log) = (BTreeMap::new(), DriftLog::default());
    for n in 1..=4 {
        step(&mut f, &mut log, &json!({"a": 1, "gone": 1}), n);
    }
    step(&mut f, &mut log, &json!({"a": 1}), 5);
    step(&mut f, &mut log, &json!({"a": 1}), 6);
    assert!(log.records.is_empty(), "2 events absent is not enough");
    step(&mut f, &mut log, &json!({"a": 1}), 7);
    assert_eq!(kinds(&log), [(DriftKind::FieldMissing, "payload.gone")]);
    assert_eq!(log.records[0].event_id.as_deref(), Some("ev7"));
    step(&mut f, &mut log, &json!({"a": 1}), 8);
    assert_eq!(log.records.len(), 1, "recorded once");
    // It comes back long enough to be established again, then goes: a second episode.
    for n in 9..=40 {
        step(&mut f, &mut log, &json!({"a": 1, "gone": 1}), n);
    }
    assert_eq!(log.records.len(), 1);
    for n in 41..=43 {
        step(&mut f, &mut log, &json!({"a": 1}), n);
    }
    assert_eq!(log.records.len(), 2);
}

#[test]
fn missing_needs_time_too() {
    let l = Limits {
        missing_after_ms: 10 * HOUR,
        ..limits()
    };
    let (mut f, mut log) = (BTreeMap::new(), DriftLog::default());
    for n in 1..=4 {
        step_with(&mut f, &mut log, &json!({"a": 1, "gone": 1}), n, &l);
    }
    for n in 5..=8 {
        step_with(&mut f, &mut log, &json!({"a": 1}), n, &l);
    }
    let w = |at| Witness {
        event_id: None,
        at,
        example: None,
    };
    log.check_missing(&mut f, 8, w(8 * HOUR), &l);
    assert!(log.records.is_empty(), "4 events but only 4 hours");
    log.check_missing(&mut f, 8, w(14 * HOUR), &l);
    assert_eq!(kinds(&log), [(DriftKind::FieldMissing, "payload.gone")]);
}

#[test]
fn rare_paths_are_not_missing() {
    let (mut f, mut log) = (BTreeMap::new(), DriftLog::default());
    for n in 1..=20 {
        let p = if n % 4 == 0 {
            json!({"a": 1, "rare": 1})
        } else {
            json!({"a": 1})
        };
        step(&mut f, &mut log, &p, n);
    }
    assert!(
        !log.records
            .iter()
            .any(|r| r.kind == DriftKind::FieldMissing)
    );
}

#[test]
fn cap_drops_oldest_and_counts() {
    let l = Limits {
        max_drift_records: 2,
        ..limits()
    };
    let mut log = DriftLog::default();
    let changes: Vec<Change> = (0..3)
        .map(|i| Change::Added(format!("payload.k{i}")))
        .collect();
    let w = Witness {
        event_id: None,
        at: 5,
        example: None,
    };
    log.apply(&changes[..1], 10, w, &l);
    log.apply(&changes[..1], 11, w, &l);
    assert_eq!(log.total, 1, "duplicates are not recorded twice");
    log.apply(&changes[1..], 12, w, &l);
    assert_eq!(log.total, 3);
    assert_eq!(log.dropped, 1);
    assert_eq!(log.records.len(), 2);
    assert_eq!(log.records[0].path, "payload.k1");
}

#[test]
fn purge_clears_examples_keeps_records() {
    let (mut f, mut log) = (BTreeMap::new(), DriftLog::default());
    for n in 1..=3 {
        step(&mut f, &mut log, &json!({ format!("k{n}"): 1 }), n);
    }
    assert!(log.purge_before(4 * HOUR));
    assert!(!log.purge_before(4 * HOUR), "nothing left to purge");
    assert_eq!(log.records.len(), 1);
    assert!(log.records[0].example.is_none());
}
