use sendrealm_e2e::stack::Stack;
use serde_json::json;

#[tokio::test]
async fn each_event_of_a_batch_is_answered_in_order() {
    let stack = Stack::start(&[], &[]).await;
    let key = stack.project.key.as_str();
    let batch = json!({"events": [
        {"event": "order.completed", "email": "a@example.com", "idempotency_key": "b-1"},
        {"event": "Bad.Name", "email": "b@example.com"},
        {"event": "order.completed", "external_id": "u-2", "payload": {"n": 2}},
        {"event": "sendrealm.mail.delivery", "email": "c@example.com"},
        {"event": "order.completed", "email": "a@example.com", "idempotency_key": "b-1"},
        {"event": "order.completed", "emial": "typo@example.com"},
        "not an object"
    ]});
    let reply = stack.agent.post_json("/events/batch", key, &batch).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["object"], "batch");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    // Each item is what `POST /events` would answer: `data`, or `error`, with its status.
    let codes: Vec<_> = results
        .iter()
        .map(|r| {
            let outcome = match (&r["data"], &r["error"]) {
                (data, _) if data["deduplicated"] == true => "deduplicated",
                (data, _) if data["deduplicated"] == false => "accepted",
                (_, error) => error["code"].as_str().unwrap(),
            };
            (r["status"].as_u64().unwrap(), outcome)
        })
        .collect();
    // Items 0 and 4 share a key: one is stored, the other replays it (either order).
    let mut keyed = [codes[0], codes[4]];
    keyed.sort();
    assert_eq!(keyed, [(200, "deduplicated"), (202, "accepted")]);
    assert_eq!(codes[1], (422, "invalid_event_name"));
    assert_eq!(codes[2], (202, "accepted"));
    assert_eq!(codes[3], (403, "reserved_event_name"));
    assert_eq!(codes[5], (422, "unknown_field"));
    assert_eq!(codes[6], (400, "invalid_request"));
    assert_eq!(results[0]["data"]["id"], results[4]["data"]["id"]);
    assert_eq!(results[2]["data"]["payload"], json!({"n": 2}));
    assert_eq!(results[2]["data"]["resolved_identity_type"], "external_id");
    assert_eq!(results[2]["data"]["resolved_identity_value"], "u-2");
    assert_eq!(results[1]["retryable"], false);
    assert_eq!(results[1]["error"]["param"], "event");
    assert_eq!(results[3]["error"]["code"], "reserved_event_name");
    assert_eq!(body["accepted"], 2);
    assert_eq!(body["replayed"], 1);
    assert_eq!(body["rejected"], 4);
    assert_eq!(stack.stream_events().await, 2);
}

#[tokio::test]
async fn batches_must_hold_one_to_five_hundred_events() {
    let stack = Stack::start(&[], &[]).await;
    let key = stack.project.key.as_str();
    let empty = stack
        .agent
        .post_json("/events/batch", key, &json!({"events": []}))
        .await;
    assert_eq!(
        (empty.status, empty.error_code().as_str()),
        (422, "invalid_batch")
    );
    let events: Vec<_> = (0..501)
        .map(|i| json!({"event": "a.b", "external_id": format!("u{i}")}))
        .collect();
    let big = stack.agent.send_batch(key, events).await;
    assert_eq!(
        (big.status, big.error_code().as_str()),
        (422, "invalid_batch")
    );
    let wrong = stack
        .agent
        .post_json("/events/batch", key, &json!([{"event": "a.b"}]))
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(stack.stream_events().await, 0);
}

#[tokio::test]
async fn a_batch_costs_one_unit_of_rate_limit_per_event() {
    let stack = Stack::start(
        &["--rate-limit-per-sec", "1", "--rate-limit-burst", "5"],
        &[],
    )
    .await;
    let events: Vec<_> = (0..8)
        .map(|i| json!({"event": "a.b", "external_id": format!("u{i}")}))
        .collect();
    let reply = stack.agent.send_batch(&stack.project.key, events).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    let accepted = body["accepted"].as_u64().unwrap();
    assert!((5..=6).contains(&accepted), "{body}");
    let limited: Vec<_> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == 429)
        .collect();
    assert_eq!(limited.len() as u64, 8 - accepted);
    assert!(
        limited
            .iter()
            .all(|r| r["retryable"] == true && r["error"]["code"] == "rate_limited")
    );
    assert!(reply.header("retry-after").is_some());
    assert_eq!(stack.stream_events().await, accepted);
}
