//! The shapes of Sendrealm's published `POST /events` reference, field by field, and a
//! client written from that page alone.

use sendrealm_common::id::event_id_for_key;
use sendrealm_e2e::stack::Stack;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::docs_example;

/// What the published reference shows of a success, and nothing more.
#[derive(Debug, Deserialize)]
struct DocsEvent {
    id: String,
    event: String,
    resolved_identity_type: String,
    resolved_identity_value: String,
    occurred_at: String,
    #[serde(default)]
    deduplicated: bool,
}

/// What the published reference shows of an error.
#[derive(Debug, Deserialize)]
struct DocsError {
    status: u16,
    error: DocsErrorBody,
}

#[derive(Debug, Deserialize)]
struct DocsErrorBody {
    code: String,
    message: String,
    details: Option<Value>,
}

/// The official clients' rule: a success is `data` when present, else the body.
fn unwrap_data(body: &str) -> Value {
    let value: Value = serde_json::from_str(body).unwrap();
    value.get("data").cloned().unwrap_or(value)
}

fn is_canonical_uuid(text: &str) -> bool {
    text.len() == 36
        && text.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

#[tokio::test]
async fn a_new_event_answers_the_documented_data_fields() {
    let stack = Stack::start(&[], &[]).await;
    let reply = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let body = reply.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["data"],
        "the body is only the envelope"
    );
    let data = &body["data"];
    let expected_id = event_id_for_key(&stack.project.id, "evt_order_completed_ord_123");
    // Documented fields.
    assert_eq!(data["id"], expected_id.as_str());
    assert!(is_canonical_uuid(data["id"].as_str().unwrap()));
    assert_eq!(data["event"], "order.completed");
    assert_eq!(data["resolved_identity_type"], "email");
    assert_eq!(data["resolved_identity_value"], "olivia@example.com");
    assert_eq!(data["occurred_at"], "2026-06-08T14:15:00.000Z");
    assert_eq!(data["deduplicated"], false);
    // Ours.
    assert_eq!(data["object"], "event");
    assert_eq!(data["project_id"], stack.project.id.as_str());
    assert_eq!(data["contact_id"], Value::Null);
    assert_eq!(data["external_id"], Value::Null);
    assert_eq!(data["email"], "olivia@example.com");
    assert_eq!(data["payload"], docs_example()["payload"]);
    assert_eq!(data["idempotency_key"], "evt_order_completed_ord_123");
    assert_eq!(data["source"], "api");
    assert_eq!(data["region"], "test-1");
    let received = data["received_at"].as_str().unwrap();
    assert_eq!(received.len(), "2026-06-08T14:15:00.000Z".len());
    assert!(received.ends_with('Z'));
    assert_eq!(data.as_object().unwrap().len(), 16, "{data}");

    // A client written from the reference reads it unchanged.
    let docs: DocsEvent = serde_json::from_value(unwrap_data(&reply.text)).unwrap();
    assert_eq!(docs.id, expected_id);
    assert_eq!(docs.event, "order.completed");
    assert_eq!(
        (
            docs.resolved_identity_type.as_str(),
            docs.resolved_identity_value.as_str()
        ),
        ("email", "olivia@example.com")
    );
    assert_eq!(docs.occurred_at, "2026-06-08T14:15:00.000Z");
    assert!(!docs.deduplicated);
}

#[tokio::test]
async fn a_replay_is_the_original_marked_deduplicated() {
    let stack = Stack::start(&[], &[]).await;
    let first = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    assert_eq!(first.status, 202);
    let again = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let docs: DocsEvent = serde_json::from_value(unwrap_data(&again.text)).unwrap();
    assert!(docs.deduplicated);
    assert_eq!(docs.id, first.data()["id"].as_str().unwrap());
    assert_eq!(again.data()["received_at"], first.data()["received_at"]);
}

#[tokio::test]
async fn contact_id_wins_over_external_id_over_normalized_email() {
    let stack = Stack::start(&[], &[]).await;
    let contact = "C671F89B-3EC1-4C58-9AD2-4EF8C2917CDA";
    let cases = [
        (
            json!({"event": "a.b", "contact_id": contact, "external_id": "cust_42", "email": "o@example.com"}),
            "contact_id",
            "c671f89b-3ec1-4c58-9ad2-4ef8c2917cda",
        ),
        (
            json!({"event": "a.b", "external_id": " cust_42 ", "email": "o@example.com"}),
            "external_id",
            "cust_42",
        ),
        (
            json!({"event": "a.b", "email": "  Olivia@Example.COM "}),
            "email",
            "olivia@example.com",
        ),
    ];
    for (event, kind, value) in cases {
        let reply = stack.agent.send_event(&stack.project.key, &event).await;
        assert_eq!(reply.status, 202, "{}", reply.text);
        let data = reply.data();
        assert_eq!(
            (
                data["resolved_identity_type"].as_str(),
                data["resolved_identity_value"].as_str()
            ),
            (Some(kind), Some(value)),
            "{event}"
        );
    }
    // In a batch, each item carries its own.
    let reply = stack
        .agent
        .send_batch(
            &stack.project.key,
            vec![
                json!({"event": "a.b", "email": "A@B.co"}),
                json!({"event": "a.b", "contact_id": contact}),
            ],
        )
        .await;
    let results = reply.json()["results"].clone();
    assert_eq!(results[0]["data"]["resolved_identity_value"], "a@b.co");
    assert_eq!(results[1]["data"]["resolved_identity_type"], "contact_id");
}

#[tokio::test]
async fn a_contact_id_that_is_not_a_uuid_is_refused_with_the_documented_error() {
    let stack = Stack::start(&[], &[]).await;
    let reply = stack
        .agent
        .send_event(
            &stack.project.key,
            &json!({"event": "x.y", "contact_id": "5"}),
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["status"], 422);
    assert_eq!(body["error"]["code"], "invalid_identity");
    assert_eq!(body["error"]["param"], "contact_id");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["details"], Value::Null);
    assert!(body["error"]["message"].as_str().unwrap().contains("UUID"));
    let docs: DocsError = serde_json::from_str(&reply.text).unwrap();
    assert_eq!(docs.status, 422);
    assert_eq!(docs.error.code, "invalid_identity");
    assert!(!docs.error.message.is_empty());
    assert!(docs.error.details.is_none());
    assert_eq!(stack.stream_events().await, 0, "nothing was accepted");

    // Every error carries its status, and details where there is a fact to give.
    let unauthorized = stack.agent.send_event("sk_wrong", &docs_example()).await;
    let body = unauthorized.json();
    assert_eq!(
        (unauthorized.status, body["status"].as_u64()),
        (401, Some(401))
    );
    let big = json!({"event": "a.b", "email": "a@b.co", "payload": {"k": "x".repeat(40_000)}});
    let too_large = stack.agent.send_event(&stack.project.key, &big).await;
    let body = too_large.json();
    assert_eq!(body["status"], 413);
    assert_eq!(body["error"]["details"]["limit_bytes"], 32_768);
}
