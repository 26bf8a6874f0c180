//! System events from platform services: the internal path with a service token, the
//! registry of known events, and the same road as customer events (store, catalog with
//! source `system`).

use std::time::Duration;

use sendrealm_e2e::aggregator::ADMIN_TOKEN;
use sendrealm_e2e::stack::{Database, Pipeline};
use sendrealm_e2e::wait;
use serde_json::{Value, json};

const STORED: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_mail_delivery_from_a_service_is_stored_and_catalogued_as_a_system_event() {
    let pipeline = Pipeline::start(Database::Sqlite, &[], &[], &[]).await;
    let stack = &pipeline.stack;
    let agg = &pipeline.aggregator;
    let project = &stack.project;
    let token = stack.cli.service_token("mail").await;
    assert!(token.starts_with("srs_"));

    let delivery = json!({
        "project_id": project.id,
        "event": "sendrealm.mail.delivery",
        "email": "Olivia@Example.com",
        "payload": {"message_id": "msg_1", "status": "delivered"},
        "idempotency_key": "delivery-msg_1",
    });
    let (status, body) = agg.post("/v1/system-events", &token, &delivery).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["event"], "sendrealm.mail.delivery");
    assert_eq!(body["data"]["source"], "system");
    assert_eq!(
        body["data"]["resolved_identity_value"],
        "olivia@example.com"
    );
    assert_eq!(body["data"]["deduplicated"], false);
    let id = body["data"]["id"].as_str().expect("id").to_owned();
    // The same delivery again: one event.
    let (status, again) = agg.post("/v1/system-events", &token, &delivery).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["id"], id.as_str());
    assert_eq!(again["data"]["deduplicated"], true);

    // Stored like any event, with its source, and in the catalog under `system`.
    let stored = wait::until(STORED, "the system event stored", || async {
        let (status, event) = agg
            .get_data(&format!("/v1/events/{id}"), &project.key)
            .await;
        (status == 200).then_some(event)
    })
    .await;
    assert_eq!(stored["source"], "system");
    assert_eq!(stored["event"], "sendrealm.mail.delivery");
    let entry = wait::until(STORED, "the catalog entry", || async {
        let (status, entry) = agg
            .get_data(
                "/v1/catalog/sendrealm.mail.delivery?source=system",
                &project.key,
            )
            .await;
        (status == 200 && entry["count"] == 1).then_some(entry)
    })
    .await;
    assert_eq!(entry["source"], "system");
    let events = agg.all_events(&project.id).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "sendrealm.mail.delivery")
            .count(),
        1,
        "stored once"
    );

    // Anything but a service token is refused, and nothing reaches the stream.
    for credential in [project.key.as_str(), ADMIN_TOKEN, "srs_not_a_token"] {
        let (status, body) = agg.post("/v1/system-events", credential, &delivery).await;
        assert_eq!(status, 401, "{credential}: {body}");
    }
    // The registry decides what the path accepts.
    let refused = |event: &str, payload: Value| json!({"project_id": project.id, "event": event, "email": "o@example.com", "payload": payload});
    for (body, status, code, param) in [
        (
            refused("sendrealm.mail.bounce", json!({})),
            422,
            "invalid_event_name",
            "event",
        ),
        (
            refused("sendrealm.mail.delivery", json!({"message_id": "m"})),
            422,
            "missing_field",
            "payload.status",
        ),
        (
            refused("order.completed", json!({})),
            422,
            "invalid_event_name",
            "event",
        ),
        (
            json!({"event": "sendrealm.mail.open", "email": "o@example.com", "payload": {"message_id": "m"}}),
            422,
            "missing_field",
            "project_id",
        ),
        (
            json!({"project_id": "proj_nope", "event": "sendrealm.mail.open", "email": "o@example.com", "payload": {"message_id": "m"}}),
            404,
            "not_found",
            "project_id",
        ),
    ] {
        let (got, answer) = agg.post("/v1/system-events", &token, &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["error"]["param"], param, "{answer}");
    }
    // The public agent keeps refusing the reserved prefix, whatever the key.
    let reply = stack
        .agent
        .send_event(
            &project.key,
            &json!({"event": "sendrealm.mail.delivery", "email": "o@example.com",
                    "payload": {"message_id": "m", "status": "delivered"}}),
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text);

    // A revoked token stops working at once.
    let revoked = stack.cli.run(&["service-token", "revoke", &token]).await;
    assert!(revoked.status.success());
    let (status, _) = agg.post("/v1/system-events", &token, &delivery).await;
    assert_eq!(status, 401);
}
