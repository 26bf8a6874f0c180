//! The event catalog end to end: events posted to the agent become entries with schema
//! hints, drift records, redacted examples and PII flags; owners decide on flags; other
//! projects see nothing of it.

use std::time::Duration;

use sendrealm_e2e::aggregator::{ADMIN_TOKEN, Aggregator};
use sendrealm_e2e::stack::{Database, Pipeline};
use serde_json::{Value, json};

const STORED: Duration = Duration::from_secs(30);

/// Sends a batch and checks that every event of it was accepted.
async fn send_all(agent: &sendrealm_e2e::agent::Agent, key: &str, events: Vec<Value>) {
    let count = events.len() as u64;
    let reply = agent.send_batch(key, events).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json()["accepted"].as_u64(),
        Some(count),
        "{}",
        reply.text
    );
}

/// Small windows, so drift shows within a test: three events of baseline, a field missing
/// after three events without it.
const SETTINGS: &[(&str, &str)] = &[
    ("SENDREALM_CATALOG__BASELINE_EVENTS", "3"),
    ("SENDREALM_CATALOG__MISSING_AFTER_EVENTS", "3"),
    ("SENDREALM_CATALOG__MISSING_AFTER_SECS", "0"),
];

fn order(n: usize, payload: Value) -> Value {
    json!({
        "event": "order.completed",
        "email": "olivia@example.com",
        "payload": payload,
        "idempotency_key": format!("order-{n}"),
    })
}

/// The entry once it has counted `count` events.
async fn entry_with(agg: &Aggregator, key: &str, count: u64) -> Value {
    sendrealm_e2e::wait::until(STORED, "the catalog entry to count the events", || async {
        let (status, entry) = agg.get_data("/v1/catalog/order.completed", key).await;
        (status == 200 && entry["count"].as_u64() >= Some(count)).then_some(entry)
    })
    .await
}

fn flag<'a>(entry: &'a Value, path: &str) -> Option<&'a Value> {
    entry["pii"]["flags"]
        .as_array()?
        .iter()
        .find(|f| f["path"] == path)
}

async fn events_become_entries_with_schema_drift_and_pii(database: Database) {
    let pipeline = Pipeline::start(database, &[], &[], SETTINGS).await;
    let stack = &pipeline.stack;
    let agg = &pipeline.aggregator;
    let key = &stack.project.key;
    let project = &stack.project.id;

    // The baseline: three orders of one shape.
    let baseline: Vec<Value> = (0..3)
        .map(|n| {
            order(
                n,
                json!({"order_id": format!("ord_{n}00"), "amount": 4900, "currency": "USD",
                       "card": "4111 1111 1111 1111", "shipped_on": "2026-06-08",
                       "items": [{"sku": "sku-123", "qty": 2}]}),
            )
        })
        .collect();
    send_all(&stack.agent, key, baseline).await;
    let entry = entry_with(agg, key, 3).await;
    assert_eq!(entry["object"], "catalog_entry");
    assert_eq!(entry["project_id"], project.as_str());
    assert_eq!(entry["source"], "api");
    let paths: Vec<&str> = entry["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for path in [
        "payload.order_id",
        "payload.amount",
        "payload.items[].sku",
        "payload.items[].qty",
    ] {
        assert!(paths.contains(&path), "{path} not in {paths:?}");
    }
    assert_eq!(entry["drift"]["count"], 0, "the baseline is not drift");
    let card = flag(&entry, "payload.card").expect("the card is flagged");
    assert_eq!(card["category"], "card");
    assert_eq!(card["status"], "detected");
    assert!(
        flag(&entry, "payload.shipped_on").is_none(),
        "a ship date is no birth date"
    );
    assert_eq!(entry["pii"]["likely"], true);

    // Then the shape changes: amount becomes a string, a coupon appears, currency goes.
    let changed: Vec<Value> = (3..6)
        .map(|n| {
            order(
                n,
                json!({"order_id": format!("ord_{n}00"), "amount": "49.00", "coupon": "SPRING",
                       "card": "4111 1111 1111 1111", "shipped_on": "2026-06-08",
                       "items": [{"sku": "sku-123", "qty": 2}]}),
            )
        })
        .collect();
    send_all(&stack.agent, key, changed).await;
    let entry = entry_with(agg, key, 6).await;
    let records = entry["drift"]["records"].as_array().unwrap();
    let has = |kind: &str, path: &str| {
        records
            .iter()
            .any(|r| r["kind"] == kind && r["path"] == path)
    };
    assert!(has("type_changed", "payload.amount"), "{records:?}");
    assert!(has("field_added", "payload.coupon"), "{records:?}");
    assert!(has("field_missing", "payload.currency"), "{records:?}");
    let amount = records
        .iter()
        .find(|r| r["kind"] == "type_changed")
        .unwrap();
    assert_eq!(
        (&amount["from"], &amount["to"]),
        (&json!("integer"), &json!("string"))
    );
    assert!(entry["drift"]["count"].as_u64() >= Some(3));

    // No value of any payload reaches the catalog.
    // (Ids and times are left out of the check: a UUID may hold "4111" by chance.)
    let mut shown = vec![entry["schema"].to_string(), entry["pii"].to_string()];
    shown.extend(
        entry["examples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["payload"].to_string()),
    );
    shown.extend(records.iter().map(|r| r["example"].to_string()));
    let text = shown.join("\n");
    for value in [
        "4111",
        "ord_",
        "USD",
        "sku-123",
        "SPRING",
        "49.00",
        "4900",
        "2026-06-08",
        "olivia",
    ] {
        assert!(!text.contains(value), "{value} leaked into {text}");
    }
    assert!(!entry["examples"].as_array().unwrap().is_empty());

    // Lists and their filters.
    let (status, list) = agg.get("/v1/catalog?event=order.", key).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (_, clean) = agg.get("/v1/catalog?pii=false&source=api", key).await;
    assert_eq!(clean["data"].as_array().unwrap().len(), 0, "{clean}");
    // The contact created for Olivia is announced by a system event, catalogued too.
    let system = sendrealm_e2e::wait::until(STORED, "the system event's entry", || async {
        let (_, page) = agg.get("/v1/catalog?source=system", key).await;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        (!data.is_empty()).then_some(data)
    })
    .await;
    assert_eq!(system[0]["event"], "sendrealm.contact.created");
    let (status, created) = agg
        .get_data("/v1/catalog/sendrealm.contact.created?source=system", key)
        .await;
    assert_eq!((status, created["source"].as_str()), (200, Some("system")));

    // The owner dismisses the card flag: the entry no longer counts as likely PII…
    let (status, dismissed) = agg
        .post(
            "/v1/catalog/order.completed/pii/dismiss",
            key,
            &json!({"path": "payload.card"}),
        )
        .await;
    assert_eq!(status, 200, "{dismissed}");
    let dismissed = &dismissed["data"];
    assert_eq!(
        flag(dismissed, "payload.card").unwrap()["status"],
        "dismissed"
    );
    assert_eq!(dismissed["pii"]["likely"], false, "{dismissed}");
    // …and it stays dismissed as more of the same arrives.
    let more = vec![order(
        7,
        json!({"order_id": "ord_700", "amount": "1.00", "coupon": "X", "card": "4111 1111 1111 1111",
               "shipped_on": "2026-06-09", "items": []}),
    )];
    send_all(&stack.agent, key, more).await;
    let entry = entry_with(agg, key, 7).await;
    assert_eq!(flag(&entry, "payload.card").unwrap()["status"], "dismissed");
    let (status, confirmed) = agg
        .post(
            "/v1/catalog/order.completed/pii/confirm",
            key,
            &json!({"path": "payload.card"}),
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["data"]["pii"]["likely"], true);
    let (status, body) = agg
        .post(
            "/v1/catalog/order.completed/pii/confirm",
            key,
            &json!({"path": "payload.nothing_here"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = agg
        .post(
            "/v1/catalog/order.completed/pii/confirm",
            key,
            &json!({"paht": 1}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );

    // A known path with the wrong method is a 405, not a 404.
    let (status, body) = agg.post("/v1/catalog", key, &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    // The backoffice filters across projects.
    let (status, page) = agg
        .get(
            &format!("/v1/backoffice/catalog?project_id={project}&pii=true&drift_since=2020-01-01T00:00:00Z"),
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"][0]["event"], "order.completed");
    let (status, page) = agg
        .get(
            "/v1/backoffice/catalog?drift_since=2999-01-01T00:00:00Z",
            ADMIN_TOKEN,
        )
        .await;
    assert_eq!(
        (status, page["data"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    let (status, _) = agg
        .get("/v1/backoffice/catalog?drift_since=yesterday", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 400);

    // Another project's key: 404 for every catalog path, never 403.
    let other = stack.cli.create_project("other", &[]).await;
    for path in [
        "/v1/catalog/order.completed".to_owned(),
        format!("/v1/catalog?project_id={project}"),
        format!("/v1/catalog/order.completed?project_id={project}"),
        "/v1/backoffice/catalog".to_owned(),
    ] {
        let (status, body) = agg.get(&path, &other.key).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _) = agg
        .post(
            "/v1/catalog/order.completed/pii/dismiss",
            &other.key,
            &json!({"path": "payload.card"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, own) = agg.get("/v1/catalog", &other.key).await;
    assert_eq!(
        (status, own["data"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

#[tokio::test]
async fn events_become_entries_with_schema_drift_and_pii_on_sqlite() {
    events_become_entries_with_schema_drift_and_pii(Database::Sqlite).await;
}

#[tokio::test]
async fn events_become_entries_with_schema_drift_and_pii_on_postgres() {
    let database = Database::postgres().await;
    events_become_entries_with_schema_drift_and_pii(database).await;
}
