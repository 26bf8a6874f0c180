use std::time::Duration;

use sendrealm_e2e::aggregator::ADMIN_TOKEN;
use sendrealm_e2e::db;
use sendrealm_e2e::stack::{Database, Pipeline};
use serde_json::json;

use crate::docs_example;

/// How long an accepted event may take to be stored.
const STORED: Duration = Duration::from_secs(20);

async fn docs_example_is_stored_with_its_contact(database: Database) {
    let pipeline = Pipeline::start(database, &[], &[], &[]).await;
    let stack = &pipeline.stack;
    let key = &stack.project.key;
    let accepted = stack.agent.send_event(key, &docs_example()).await;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let id = accepted.data()["id"].as_str().unwrap().to_owned();

    let agg = &pipeline.aggregator;
    let stored = sendrealm_e2e::wait::until(STORED, "the event to be stored", || async {
        let (status, body) = agg.get_data(&format!("/v1/events/{id}"), key).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(stored["event"], "order.completed");
    assert_eq!(stored["email"], "olivia@example.com");
    assert_eq!(stored["payload"], docs_example()["payload"]);
    assert_eq!(stored["received_at"], accepted.data()["received_at"]);
    assert_eq!(stored["resolved_identity_type"], "email");
    assert_eq!(stored["resolved_identity_value"], "olivia@example.com");
    let contact_id = stored["contact_id"].as_str().unwrap().to_owned();
    assert_eq!(
        sendrealm_common::id::parse_contact_id(&contact_id).as_deref(),
        Some(contact_id.as_str()),
        "contact ids are canonical UUIDs"
    );

    let (status, contact) = agg
        .get_data(&format!("/v1/contacts/{contact_id}"), key)
        .await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(
        contact["identifiers"],
        json!([{"kind": "email", "value": "olivia@example.com", "linked_at": contact["identifiers"][0]["linked_at"]}])
    );

    // The platform announces the new contact once, as a system event that is stored too.
    let created = sendrealm_e2e::wait::until(STORED, "sendrealm.contact.created", || async {
        let (_, page) = agg
            .get("/v1/events?event=sendrealm.contact.created", key)
            .await;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        (!data.is_empty()).then_some(data)
    })
    .await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["source"], "system");
    assert_eq!(created[0]["contact_id"], contact_id.as_str());
    assert_eq!(created[0]["payload"]["created_by_event"], id.as_str());

    // Listing by the email finds the event; the row is really in the database once.
    let (status, page) = agg
        .get(
            "/v1/events?email=%20Olivia@Example.COM&event=order.completed",
            key,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let url = pipeline.database_url();
    assert_eq!(
        db::count_ids(&url, "SELECT count(*) FROM events WHERE id = $1", &[&id]).await,
        1
    );
    assert_eq!(
        db::count(&url, "SELECT count(*) FROM contacts", &[]).await,
        1
    );

    // Another project's key sees nothing of it; the admin token sees it.
    let other = stack.cli.create_project("other", &[]).await;
    let (status, _) = agg.get(&format!("/v1/events/{id}"), &other.key).await;
    assert_eq!(status, 404);
    let (status, _) = agg.get(&format!("/v1/events/{id}"), ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    let (status, body) = agg.get("/v1/events", "sk_wrong").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
}

#[tokio::test]
async fn docs_example_is_stored_with_its_contact_on_sqlite() {
    docs_example_is_stored_with_its_contact(Database::Sqlite).await;
}

#[tokio::test]
async fn docs_example_is_stored_with_its_contact_on_postgres() {
    let database = Database::postgres().await;
    docs_example_is_stored_with_its_contact(database).await;
}
