use super::*;

const NOW: i64 = 1_780_000_000_000;
const DAY: i64 = 86_400_000;

fn register(body: Value) -> Result<WaitRow, Invalid> {
    parse(body.to_string().as_bytes())?.into_row(NOW, 90 * DAY)
}

fn base() -> Value {
    json!({"id": "wait_1", "project_id": "proj_a", "waiting_for_event_name": "order.completed",
           "email": "Olivia@Example.com", "match": {"payload.currency": "USD"},
           "after": "2026-06-01T00:00:00Z", "timeout_at": "2026-06-10T00:00:00Z",
           "metadata": {"run": "r1"}})
}

fn candidate(contact: uuid::Uuid, received_at: i64, payload: Value) -> WaitCandidate {
    WaitCandidate {
        seq: received_at,
        id: uuid::Uuid::from_u128(received_at as u128),
        project_id: "proj_a".into(),
        event: "order.completed".into(),
        contact_id: Some(contact),
        payload: payload.to_string(),
        received_at,
        occurred_at: received_at,
    }
}

#[test]
fn a_registration_becomes_an_open_wait() {
    let row = register(base()).unwrap();
    assert_eq!(row.identity_type, "email");
    assert_eq!(row.identity_value, "olivia@example.com");
    assert_eq!(row.status, WAITING);
    assert_eq!(row.after_at, 1_780_272_000_000);
    let object = object(&row);
    assert_eq!(object["object"], "wait");
    assert_eq!(object["outcome_branch"], Value::Null);
    assert_eq!(object["metadata"], json!({"run": "r1"}));
    assert_eq!(object["match"], json!({"payload.currency": "USD"}));
    // The same registration hashes the same, however it is formatted.
    let again = register(base()).unwrap();
    assert_eq!(row.request_hash, again.request_hash);
    let spaced = serde_json::to_string_pretty(&base()).unwrap();
    let spaced = parse(spaced.as_bytes())
        .unwrap()
        .into_row(NOW, 90 * DAY)
        .unwrap();
    assert_eq!(row.request_hash, spaced.request_hash);
}

#[test]
fn bad_registrations_say_which_field() {
    let cases = [
        ("id", json!("has space")),
        ("timeout_at", json!("2026-05-01T00:00:00Z")),
        ("timeout_at", json!("2028-06-10T00:00:00Z")),
        ("match", json!({"currency": "USD"})),
        ("metadata", json!([1])),
        ("waiting_for_event_name", json!("Bad Name")),
    ];
    for (field, value) in cases {
        let mut body = base();
        body[field] = value;
        let error = register(body).unwrap_err();
        assert_eq!(error.param.as_deref(), Some(field), "{error:?}");
    }
    let mut body = base();
    body.as_object_mut().unwrap().remove("email");
    assert_eq!(register(body).unwrap_err().code, ErrorCode::MissingIdentity);
    let mut body = base();
    body["unknown"] = json!(1);
    assert_eq!(register(body).unwrap_err().code, ErrorCode::UnknownField);
}

#[test]
fn matching_needs_the_contact_the_window_and_every_match_entry() {
    let row = register(base()).unwrap();
    let contact = uuid::Uuid::from_u128(7);
    let inside = row.after_at + 1_000;
    assert!(matches(
        &row,
        contact,
        &candidate(contact, inside, json!({"currency": "USD"}))
    ));
    assert!(!matches(
        &row,
        contact,
        &candidate(contact, inside, json!({"currency": "EUR"}))
    ));
    assert!(
        !matches(&row, contact, &candidate(contact, inside, json!({}))),
        "missing is not equal"
    );
    assert!(!matches(
        &row,
        contact,
        &candidate(contact, inside, json!({"currency": null}))
    ));
    assert!(
        !matches(
            &row,
            contact,
            &candidate(uuid::Uuid::from_u128(8), inside, json!({"currency": "USD"}))
        ),
        "another contact"
    );
    assert!(
        !matches(
            &row,
            contact,
            &candidate(contact, row.after_at - 1, json!({"currency": "USD"}))
        ),
        "before after"
    );
    assert!(
        !matches(
            &row,
            contact,
            &candidate(contact, row.timeout_at, json!({"currency": "USD"}))
        ),
        "at the timeout"
    );
    // Type-exact: "4900" is not 4900.
    let mut typed = row.clone();
    typed.match_json = json!({"payload.order.amount": 4900}).to_string();
    assert!(matches(
        &typed,
        contact,
        &candidate(contact, inside, json!({"order": {"amount": 4900}}))
    ));
    assert!(!matches(
        &typed,
        contact,
        &candidate(contact, inside, json!({"order": {"amount": "4900"}}))
    ));
    // The earliest of several matching events wins.
    let events = [
        candidate(contact, inside + 5, json!({"currency": "USD"})),
        candidate(contact, inside + 1, json!({"currency": "USD"})),
        candidate(contact, inside, json!({"currency": "EUR"})),
    ];
    assert_eq!(
        first_match(&row, contact, &events).map(|e| e.received_at),
        Some(inside + 1)
    );
}

#[test]
fn outcomes_carry_the_branch_and_the_event() {
    let row = register(base()).unwrap();
    let contact = uuid::Uuid::from_u128(7);
    let event = candidate(contact, row.after_at + 10, json!({"currency": "USD"}));
    let done = received(&row, &event, NOW + 5);
    let out = outcome(&done, NOW + 5);
    assert_eq!(out.subject, "sendrealm.waits.proj_a.received");
    assert_eq!(out.msg_id, "wait:wait_1");
    let body: Value = serde_json::from_str(&out.payload).unwrap();
    assert_eq!(body["outcome_branch"], "received");
    assert_eq!(
        body["resumed_by_event"]["id"],
        event.id.hyphenated().to_string()
    );
    let late = outcome(&timed_out(&row, NOW + 9), NOW + 9);
    assert_eq!(late.subject, "sendrealm.waits.proj_a.timed_out");
    let body: Value = serde_json::from_str(&late.payload).unwrap();
    assert_eq!(body["outcome_branch"], "timeout");
    assert_eq!(body["resumed_by_event"], Value::Null);
}
