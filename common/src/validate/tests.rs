use super::*;

const NOW: Timestamp = Timestamp::from_unix_millis(1_790_000_000_000);

fn ctx() -> EventContext<'static> {
    EventContext {
        project_id: "proj_test",
        payload_limit_bytes: 64,
        received_at: NOW,
        region: "eu-west",
        source: Source::Api,
    }
}

fn check(body: &str) -> Result<Event, Invalid> {
    validate(parse_request(body.as_bytes())?, &ctx())
}

fn code_of(body: &str) -> (ErrorCode, Option<String>) {
    let err = check(body).expect_err(body);
    (err.code, err.param)
}

#[test]
fn accepts_the_public_docs_example() {
    let event = check(
        r#"{"event": "order.completed", "email": "olivia@example.com",
            "payload": {"order_id": "ord_123", "amount": 4900, "currency": "USD"},
            "occurred_at": "2026-06-08T14:15:00.000Z",
            "idempotency_key": "evt_order_completed_ord_123"}"#,
    )
    .unwrap();
    assert_eq!(event.event, "order.completed");
    assert_eq!(event.email.as_deref(), Some("olivia@example.com"));
    assert_eq!(event.occurred_at.to_rfc3339(), "2026-06-08T14:15:00.000Z");
    assert_eq!(event.received_at, NOW);
    assert_eq!(
        event.id,
        crate::id::event_id_for_key("proj_test", "evt_order_completed_ord_123")
    );
}

#[test]
fn defaults_payload_and_occurred_at() {
    let event = check(r#"{"event":"a.b","external_id":"u1"}"#).unwrap();
    assert_eq!(event.payload.get(), "{}");
    assert_eq!(event.occurred_at, NOW);
    let event = check(r#"{"event":"a.b","external_id":"u1","payload":null}"#).unwrap();
    assert_eq!(event.payload.get(), "{}");
}

#[test]
fn refuses_bad_event_names() {
    for name in [
        "Order.Completed",
        "order..completed",
        ".order",
        "order.completed.",
        "order",
        "order completed.x",
        "ordér.completed",
        "1order.completed",
        "order.1completed",
        "order-x.completed",
        "",
    ] {
        let body = format!(r#"{{"event":{name:?},"email":"a@b.co"}}"#);
        assert_eq!(
            code_of(&body),
            (ErrorCode::InvalidEventName, Some("event".into())),
            "{name}"
        );
    }
    let long = format!("a.{}", "b".repeat(MAX_EVENT_NAME_LEN));
    let body = format!(r#"{{"event":{long:?},"email":"a@b.co"}}"#);
    assert_eq!(code_of(&body).0, ErrorCode::InvalidEventName);
}

#[test]
fn refuses_reserved_names_from_customers_only() {
    let body = r#"{"event":"sendrealm.mail.send","email":"a@b.co"}"#;
    assert_eq!(code_of(body).0, ErrorCode::ReservedEventName);
    assert_eq!(ErrorCode::ReservedEventName.status(), 403);
    let request = parse_request(body.as_bytes()).unwrap();
    let system = EventContext {
        source: Source::System,
        ..ctx()
    };
    assert!(validate(request, &system).is_ok());
    let request = parse_request(br#"{"event":"order.completed","email":"a@b.co"}"#).unwrap();
    assert_eq!(
        validate(request, &system).unwrap_err().code,
        ErrorCode::InvalidEventName
    );
}

#[test]
fn requires_a_real_identity() {
    assert_eq!(
        code_of(r#"{"event":"a.b"}"#),
        (ErrorCode::MissingIdentity, Some("email".into()))
    );
    assert_eq!(
        code_of(r#"{"event":"a.b","email":"nope"}"#),
        (ErrorCode::InvalidEmail, Some("email".into()))
    );
    for placeholder in ["null", "undefined", "anonymous", "-1", "0", "0000", "  "] {
        let body = format!(r#"{{"event":"a.b","external_id":{placeholder:?}}}"#);
        assert_eq!(
            code_of(&body),
            (ErrorCode::InvalidIdentity, Some("external_id".into())),
            "{placeholder}"
        );
        let body = format!(r#"{{"event":"a.b","contact_id":{placeholder:?}}}"#);
        assert_eq!(code_of(&body).1.as_deref(), Some("contact_id"));
    }
}

#[test]
fn normalizes_email() {
    let a = check(r#"{"event":"a.b","email":"  Olivia@Example.COM "}"#).unwrap();
    let b = check(r#"{"event":"a.b","email":"olivia@example.com"}"#).unwrap();
    assert_eq!(a.email, b.email);
}

#[test]
fn checks_occurred_at() {
    for bad in [
        "2026-06-08",
        "2026-06-08T14:15:00",
        "tomorrow",
        "2026-13-01T00:00:00Z",
    ] {
        let body = format!(r#"{{"event":"a.b","email":"a@b.co","occurred_at":{bad:?}}}"#);
        assert_eq!(
            code_of(&body),
            (ErrorCode::InvalidOccurredAt, Some("occurred_at".into())),
            "{bad}"
        );
    }
    let soon = NOW.plus_millis(MAX_FUTURE_SKEW_MILLIS - 1000).to_rfc3339();
    let body = format!(r#"{{"event":"a.b","email":"a@b.co","occurred_at":"{soon}"}}"#);
    assert!(check(&body).is_ok());
    let late = NOW.plus_millis(MAX_FUTURE_SKEW_MILLIS + 1000).to_rfc3339();
    let body = format!(r#"{{"event":"a.b","email":"a@b.co","occurred_at":"{late}"}}"#);
    assert_eq!(code_of(&body).0, ErrorCode::InvalidOccurredAt);
    let past = r#"{"event":"a.b","email":"a@b.co","occurred_at":"1999-01-01T00:00:00+05:00"}"#;
    assert!(check(past).is_ok());
}

#[test]
fn checks_idempotency_key() {
    for bad in ["", "   ", "a\\u0007b"] {
        let body = format!(r#"{{"event":"a.b","email":"a@b.co","idempotency_key":"{bad}"}}"#);
        assert_eq!(
            code_of(&body).0,
            ErrorCode::InvalidIdempotencyKey,
            "{bad:?}"
        );
    }
    let long = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
    let body = format!(r#"{{"event":"a.b","email":"a@b.co","idempotency_key":"{long}"}}"#);
    assert_eq!(code_of(&body).0, ErrorCode::InvalidIdempotencyKey);
    let max = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN);
    let body = format!(r#"{{"event":"a.b","email":"a@b.co","idempotency_key":"{max}"}}"#);
    assert!(check(&body).is_ok());
}

#[test]
fn checks_payload_shape_and_limit() {
    assert_eq!(
        code_of(r#"{"event":"a.b","email":"a@b.co","payload":[1]}"#),
        (ErrorCode::InvalidPayload, Some("payload".into()))
    );
    // The limit in ctx() is 64 bytes: {"k":"…"} with 56 characters inside is exactly 64.
    let at_limit = format!(r#"{{"k":"{}"}}"#, "x".repeat(56));
    assert_eq!(at_limit.len(), 64);
    let body = format!(r#"{{"event":"a.b","email":"a@b.co","payload":{at_limit}}}"#);
    assert!(check(&body).is_ok());
    let over = format!(r#"{{"k":"{}"}}"#, "x".repeat(57));
    let body = format!(r#"{{"event":"a.b","email":"a@b.co","payload":{over}}}"#);
    let err = check(&body).unwrap_err();
    assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    assert!(err.message.contains("64"), "{}", err.message);
}

#[test]
fn maps_json_errors_to_codes_and_fields() {
    assert_eq!(code_of("{not json").0, ErrorCode::MalformedJson);
    assert_eq!(
        code_of(r#"{"event":"a.b"} trailing"#).0,
        ErrorCode::MalformedJson
    );
    assert_eq!(code_of("[1,2]").0, ErrorCode::InvalidRequest);
    assert_eq!(
        code_of(r#"{"event":"a.b","emial":"a@b.co"}"#),
        (ErrorCode::UnknownField, Some("emial".into()))
    );
    assert_eq!(
        code_of(r#"{"email":"a@b.co"}"#),
        (ErrorCode::MissingField, Some("event".into()))
    );
    assert_eq!(
        code_of(r#"{"event":"a.b","email":"a@b.co","occurred_at":12}"#),
        (ErrorCode::InvalidFieldType, Some("occurred_at".into()))
    );
}

#[test]
fn contact_id_must_be_a_uuid() {
    for bad in ["5", "ct_5", "user_42", "c671f89b-3ec1-4c58-9ad2"] {
        let body = format!(r#"{{"event":"a.b","contact_id":{bad:?}}}"#);
        assert_eq!(
            code_of(&body),
            (ErrorCode::InvalidIdentity, Some("contact_id".into())),
            "{bad}"
        );
    }
    let event =
        check(r#"{"event":"a.b","contact_id":" C671F89B-3EC1-4C58-9AD2-4EF8C2917CDA "}"#).unwrap();
    assert_eq!(
        event.contact_id.as_deref(),
        Some("c671f89b-3ec1-4c58-9ad2-4ef8c2917cda"),
        "stored in canonical form"
    );
    // Contact ids of earlier releases name the same contact.
    let legacy =
        check(r#"{"event":"a.b","contact_id":"ct_c671f89b3ec14c589ad24ef8c2917cda"}"#).unwrap();
    assert_eq!(legacy.contact_id, event.contact_id);
}

#[test]
fn payload_too_large_names_the_limit_in_details() {
    let over = format!(r#"{{"k":"{}"}}"#, "x".repeat(57));
    let body = format!(r#"{{"event":"a.b","email":"a@b.co","payload":{over}}}"#);
    let err = check(&body).unwrap_err();
    assert_eq!(
        err.details,
        Some(serde_json::json!({"limit_bytes": 64, "size_bytes": 65}))
    );
}

#[test]
fn nesting_is_counted_outside_strings_only() {
    let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    assert!(!nesting_exceeds(
        &nested(MAX_PAYLOAD_DEPTH),
        MAX_PAYLOAD_DEPTH
    ));
    assert!(nesting_exceeds(
        &nested(MAX_PAYLOAD_DEPTH + 1),
        MAX_PAYLOAD_DEPTH
    ));
    assert!(nesting_exceeds(&nested(10_000), MAX_PAYLOAD_DEPTH));
    // Brackets and escaped quotes inside strings are text.
    let text = format!(r#"{{"k":"{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
    assert!(!nesting_exceeds(&text, 2));
    assert!(nesting_exceeds(r#"{"a":{"b":{"c":1}}}"#, 2));
    assert!(!nesting_exceeds(r#"{"a":{"b":1},"c":{"d":2}}"#, 2));
}

mod properties {
    //! The parser and validator over arbitrary input: they answer (an event or a coded
    //! refusal) and never panic; what they accept is within the limits.
    use super::*;
    use proptest::prelude::*;

    fn context() -> EventContext<'static> {
        EventContext {
            project_id: "proj_prop",
            payload_limit_bytes: 2_048,
            received_at: Timestamp::from_unix_millis(1_780_000_000_000),
            region: "eu",
            source: Source::Api,
        }
    }

    /// JSON-ish text: arbitrary JSON values and near-misses of an event body.
    fn bodies() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            "[a-zA-Z0-9@._ \\-]{0,20}".prop_map(|s| format!("{s:?}")),
        ];
        let value = leaf.prop_recursive(6, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-z_]{1,12}", inner), 0..6).prop_map(|kv| {
                    let fields: Vec<String> =
                        kv.into_iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        });
        let event = (
            prop_oneof![Just("order.completed".to_owned()), "[a-zA-Z.]{0,20}"],
            prop::option::of("[a-zA-Z0-9@.+_-]{0,30}"),
            prop::option::of("[a-zA-Z0-9_-]{0,30}"),
            prop::option::of(value.clone()),
            prop::option::of("[0-9TZ:.+-]{0,30}"),
            prop::option::of("[ -~]{0,40}"),
        )
            .prop_map(|(name, email, external, payload, occurred, key)| {
                let mut fields = vec![format!("\"event\":{name:?}")];
                if let Some(e) = email {
                    fields.push(format!("\"email\":{e:?}"));
                }
                if let Some(x) = external {
                    fields.push(format!("\"external_id\":{x:?}"));
                }
                if let Some(p) = payload {
                    fields.push(format!("\"payload\":{p}"));
                }
                if let Some(o) = occurred {
                    fields.push(format!("\"occurred_at\":{o:?}"));
                }
                if let Some(k) = key {
                    fields.push(format!("\"idempotency_key\":{k:?}"));
                }
                format!("{{{}}}", fields.join(","))
            });
        prop_oneof![event, value, "[ -~]{0,80}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn every_body_is_an_event_or_a_coded_refusal(body in bodies()) {
            match parse_request(body.as_bytes()).and_then(|r| validate(r, &context())) {
                Ok(event) => {
                    prop_assert!(event.payload.get().len() <= 2_048);
                    prop_assert!(!event.event.starts_with(RESERVED_PREFIX));
                    prop_assert!(event.email.is_some() || event.external_id.is_some() || event.contact_id.is_some());
                    prop_assert!(event.payload.get().starts_with('{'), "payload is an object");
                }
                Err(invalid) => {
                    let status = invalid.code.status();
                    prop_assert!((400..500).contains(&status), "{invalid:?}");
                    prop_assert!(!invalid.message.is_empty());
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_request(&bytes).and_then(|r| validate(r, &context()));
        }
    }
}
