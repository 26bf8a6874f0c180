use std::time::Duration;

use sendrealm_e2e::aggregator::UNLIMITED;
use sendrealm_e2e::aggregator::{ADMIN_TOKEN, AdminCli, Aggregator};
use sendrealm_e2e::db;
use sendrealm_e2e::stack::{Database, Pipeline, Stack};
use sendrealm_e2e::wait;
use serde_json::json;

const STORED: Duration = Duration::from_secs(30);

async fn stored(pipeline: &Pipeline, id: &str) -> serde_json::Value {
    wait::until(STORED, "the event to be stored", || async {
        let (status, body) = pipeline
            .aggregator
            .get_data(&format!("/v1/events/{id}"), ADMIN_TOKEN)
            .await;
        (status == 200).then_some(body)
    })
    .await
}

async fn send(pipeline: &Pipeline, event: serde_json::Value) -> serde_json::Value {
    let reply = pipeline
        .stack
        .agent
        .send_event(&pipeline.stack.project.key, &event)
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    stored(pipeline, reply.data()["id"].as_str().unwrap()).await
}

async fn email_then_external_id_then_contact_id_is_one_contact(database: Database) {
    let pipeline = Pipeline::start(database, &[], &[], &[]).await;
    let first = send(
        &pipeline,
        json!({"event": "user.signed_up", "email": "olivia@example.com"}),
    )
    .await;
    let contact = first["contact_id"].as_str().unwrap().to_owned();
    let second = send(
        &pipeline,
        json!({"event": "user.linked", "email": " Olivia@Example.com", "external_id": "cust_42"}),
    )
    .await;
    assert_eq!(second["contact_id"], contact.as_str());
    let third = send(
        &pipeline,
        json!({"event": "order.completed", "contact_id": contact}),
    )
    .await;
    assert_eq!(third["contact_id"], contact.as_str());
    let fourth = send(
        &pipeline,
        json!({"event": "order.completed", "external_id": "cust_42"}),
    )
    .await;
    assert_eq!(fourth["contact_id"], contact.as_str());

    let (status, body) = pipeline
        .aggregator
        .get_data(&format!("/v1/contacts/{contact}"), ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200);
    let mut identifiers: Vec<(String, String)> = body["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap().to_owned(),
                i["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    identifiers.sort();
    assert_eq!(
        identifiers,
        vec![
            ("email".to_owned(), "olivia@example.com".to_owned()),
            ("external_id".to_owned(), "cust_42".to_owned())
        ]
    );
    let url = pipeline.database_url();
    assert_eq!(
        db::count(&url, "SELECT count(*) FROM contacts", &[]).await,
        1
    );

    // An unknown contact_id falls through to the email; alone it cannot be placed.
    let fell_through = send(
        &pipeline,
        json!({"event": "a.b", "contact_id": sendrealm_common::id::new_contact_id(), "email": "olivia@example.com"}),
    )
    .await;
    assert_eq!(fell_through["contact_id"], contact.as_str());

    // Identifiers naming two different contacts: precedence decides, the conflict is
    // recorded, and the identifier keeps its contact.
    let other = send(
        &pipeline,
        json!({"event": "user.signed_up", "email": "noah@example.com"}),
    )
    .await;
    let other_contact = other["contact_id"].as_str().unwrap().to_owned();
    let conflicted = send(
        &pipeline,
        json!({"event": "a.b", "external_id": "cust_42", "email": "noah@example.com"}),
    )
    .await;
    assert_eq!(
        conflicted["contact_id"],
        contact.as_str(),
        "external_id outranks email"
    );
    assert_eq!(
        db::count(
            &url,
            "SELECT count(*) FROM identity_conflicts WHERE value = $1",
            &["noah@example.com"]
        )
        .await,
        1
    );
    let (_, page) = pipeline
        .aggregator
        .get(
            &format!(
                "/v1/events?project_id={}&email=noah@example.com",
                pipeline.stack.project.id
            ),
            ADMIN_TOKEN,
        )
        .await;
    let listed = page["data"].as_array().unwrap();
    assert!(!listed.is_empty(), "{page}");
    assert!(
        listed
            .iter()
            .all(|e| e["contact_id"] == other_contact.as_str())
    );
    assert_eq!(
        db::count(&url, "SELECT count(*) FROM contacts", &[]).await,
        2
    );
}

#[tokio::test]
async fn identifiers_resolve_to_one_contact_on_sqlite() {
    email_then_external_id_then_contact_id_is_one_contact(Database::Sqlite).await;
}

#[tokio::test]
async fn identifiers_resolve_to_one_contact_on_postgres() {
    let database = Database::postgres().await;
    email_then_external_id_then_contact_id_is_one_contact(database).await;
}

#[tokio::test]
async fn an_unknown_contact_id_alone_is_stored_unresolved_not_dead_lettered() {
    let pipeline = Pipeline::start(Database::Sqlite, &[], &[], &[]).await;
    let unknown = sendrealm_common::id::new_contact_id();
    let reply = pipeline
        .stack
        .agent
        .send_event(
            &pipeline.stack.project.key,
            &json!({"event": "a.b", "contact_id": unknown}),
        )
        .await;
    assert_eq!(
        reply.status, 202,
        "the edge cannot know the contact is unknown"
    );
    // Its 202 promised it would be stored: it is, without a contact, visible as such.
    let stored = stored(&pipeline, reply.data()["id"].as_str().unwrap()).await;
    assert_eq!(stored["identity_status"], "unresolved");
    assert_eq!(stored["contact_id"], serde_json::Value::Null);
    assert_eq!(stored["resolved_identity_type"], "contact_id");
    assert_eq!(stored["resolved_identity_value"], unknown.as_str());
    let (_, metrics) = pipeline.aggregator.get_plain("/metrics").await;
    assert!(
        metrics.contains("sendrealm_aggregator_events_total{outcome=\"terminated\"} 0"),
        "{metrics}"
    );
    assert_eq!(
        db::count(
            &pipeline.database_url(),
            "SELECT count(*) FROM contacts",
            &[]
        )
        .await,
        0,
        "no contact is made up for it"
    );
}

async fn two_aggregators_create_one_contact_per_new_email(database: Database) {
    let nats = sendrealm_e2e::nats::NatsServer::start();
    let cli = match &database {
        Database::Sqlite => AdminCli::sqlite(&nats),
        Database::Postgres(db) => AdminCli::with_database(&nats, &db.url),
    };
    let stack = Stack::start_on(nats, cli, &UNLIMITED, &[]).await;
    // One event per batch, so the two instances really interleave.
    let env = [("SENDREALM_CONSUMER__BATCH_SIZE", "1")];
    let a = Aggregator::start(&stack.nats, &stack.cli, &env).await;
    let b = Aggregator::start(&stack.nats, &stack.cli, &env).await;
    let events: Vec<_> = (0..100)
        .map(|i| json!({"event": "user.signed_up", "email": format!("new{}@example.com", i / 2)}))
        .collect();
    let reply = stack.agent.send_batch(&stack.project.key, events).await;
    assert_eq!(reply.json()["accepted"], 100);
    let url = stack.cli.database_url();
    wait::until(Duration::from_secs(60), "all 100 events", || async {
        (db::count(
            &url,
            "SELECT count(*) FROM events WHERE event = 'user.signed_up'",
            &[],
        )
        .await
            == 100)
            .then_some(())
    })
    .await;
    assert_eq!(
        db::count(&url, "SELECT count(*) FROM contacts", &[]).await,
        50
    );
    assert_eq!(
        db::count(
            &url,
            "SELECT count(DISTINCT contact_id) FROM events WHERE event = 'user.signed_up'",
            &[]
        )
        .await,
        50
    );
    // System events take the longer way (outbox, stream, consumer), through the same
    // write lock the two aggregators and their catalog folders share on one SQLite file:
    // the same deadline as the events themselves.
    wait::until(
        Duration::from_secs(60),
        "one contact.created per contact",
        || async {
            (db::count(
                &url,
                "SELECT count(*) FROM events WHERE event = 'sendrealm.contact.created'",
                &[],
            )
            .await
                == 50)
                .then_some(())
        },
    )
    .await;
    let (_, metrics_a) = a.get_plain("/metrics").await;
    let (_, metrics_b) = b.get_plain("/metrics").await;
    assert!(
        !metrics_a.contains("outcome=\"stored\"} 0\n"),
        "both instances took part: {metrics_a}"
    );
    assert!(
        !metrics_b.contains("outcome=\"stored\"} 0\n"),
        "both instances took part: {metrics_b}"
    );
    a.stop();
    b.stop();
}

#[tokio::test]
async fn two_aggregators_create_one_contact_per_new_email_on_postgres() {
    let database = Database::postgres().await;
    two_aggregators_create_one_contact_per_new_email(database).await;
}

#[tokio::test]
async fn two_aggregators_create_one_contact_per_new_email_on_sqlite() {
    two_aggregators_create_one_contact_per_new_email(Database::Sqlite).await;
}
