use sendrealm_common::subjects::{DEFAULT_SUBJECT_PREFIX, event_subject};
use sendrealm_e2e::stack::Stack;
use serde_json::json;

use crate::docs_example;

#[tokio::test]
async fn docs_example_is_accepted_and_in_the_stream() {
    let stack = Stack::start(&["--retention-days", "30"], &[]).await;
    let reply = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let event = reply.data();
    assert_eq!(event["object"], "event");
    assert_eq!(event["project_id"], stack.project.id.as_str());
    assert_eq!(event["event"], "order.completed");
    assert_eq!(event["email"], "olivia@example.com");
    assert_eq!(
        event["payload"],
        json!({"order_id": "ord_123", "amount": 4900, "currency": "USD"})
    );
    assert_eq!(event["occurred_at"], "2026-06-08T14:15:00.000Z");
    assert_eq!(event["idempotency_key"], "evt_order_completed_ord_123");
    assert_eq!(event["source"], "api");
    assert_eq!(event["region"], "test-1");
    assert!(event["contact_id"].is_null() && event["external_id"].is_null());
    let id = event["id"].as_str().unwrap();
    assert_eq!(
        id,
        sendrealm_common::id::event_id_for_key(&stack.project.id, "evt_order_completed_ord_123")
    );
    assert_eq!(event["resolved_identity_type"], "email");
    assert_eq!(event["resolved_identity_value"], "olivia@example.com");
    assert_eq!(event["deduplicated"], false);
    assert!(event["received_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(reply.header("ratelimit-limit"), Some("200"));

    // Read it back with a NATS client: the event object, dedupe id and retention TTL on it.
    let subject = event_subject(DEFAULT_SUBJECT_PREFIX, &stack.project.id, "order.completed");
    let stored = stack
        .stream()
        .await
        .get_last_raw_message_by_subject(&subject)
        .await
        .expect("the event is in the stream");
    let in_stream: serde_json::Value = serde_json::from_slice(&stored.payload).unwrap();
    let mut answered = event.clone();
    for answer_only in [
        "resolved_identity_type",
        "resolved_identity_value",
        "deduplicated",
    ] {
        answered.as_object_mut().unwrap().remove(answer_only);
        assert!(in_stream.get(answer_only).is_none());
    }
    assert_eq!(in_stream, answered);
    let headers = stored.headers;
    assert_eq!(
        headers.get("Nats-Msg-Id").map(|v| v.as_str()),
        Some(format!("{}:evt_order_completed_ord_123", stack.project.id).as_str())
    );
    assert_eq!(
        headers.get("Nats-TTL").map(|v| v.as_str()),
        Some((30 * 86_400).to_string().as_str())
    );
    assert_eq!(stack.stream_events().await, 1);
}

#[tokio::test]
async fn email_is_normalized_before_publishing() {
    let stack = Stack::start(&[], &[]).await;
    let messy = stack
        .agent
        .send_event(
            &stack.project.key,
            &json!({"event": "user.signed_up", "email": "  Olivia@Example.COM "}),
        )
        .await;
    let clean = stack
        .agent
        .send_event(
            &stack.project.key,
            &json!({"event": "user.signed_up", "email": "olivia@example.com"}),
        )
        .await;
    assert_eq!(messy.status, 202, "{}", messy.text);
    assert_eq!(clean.status, 202, "{}", clean.text);
    assert_eq!(messy.data()["email"], "olivia@example.com");
    assert_eq!(messy.data()["email"], clean.data()["email"]);
    assert_eq!(
        messy.data()["resolved_identity_value"],
        "olivia@example.com"
    );
    // Without idempotency keys these are two events, each with a fresh id.
    assert_ne!(messy.data()["id"], clean.data()["id"]);
    assert_eq!(stack.stream_events().await, 2);
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let stack = Stack::start(&[], &[]).await;
    let health = stack.agent.get("/healthz").await.unwrap();
    assert_eq!(health.status, 200);
    let ready = stack.agent.get("/readyz").await.unwrap();
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["projects"], 1);
    stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    stack
        .agent
        .post_raw("/events", None, Some("application/json"), "{}")
        .await;
    let metrics = stack.agent.get("/metrics").await.unwrap();
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text
            .contains("sendrealm_agent_events_total{outcome=\"accepted\"} 1"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("sendrealm_agent_rejected_total{code=\"missing_api_key\"} 1"),
        "{}",
        metrics.text
    );
    let missing = stack.agent.get("/nope").await.unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
}

#[tokio::test]
async fn an_existing_stream_without_message_ttls_still_takes_events() {
    use sendrealm_common::config::StreamConfig;
    use sendrealm_e2e::aggregator::AdminCli;
    use sendrealm_e2e::nats::NatsServer;

    let nats = NatsServer::start();
    // A stream made before per-message TTLs, or by hand without them.
    let mut config = sendrealm_common::service::events_stream_config(&StreamConfig::default());
    config.allow_message_ttl = false;
    nats.jetstream().await.create_stream(config).await.unwrap();
    let cli = AdminCli::sqlite(&nats);
    let project = cli.create_project("p", &[]).await;
    let agent = sendrealm_e2e::agent::Agent::start(&nats, &[]).await;
    let reply = agent.send_event(&project.key, &docs_example()).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert!(agent.log().contains("does not allow per-message TTLs"));
    agent.stop();
}
