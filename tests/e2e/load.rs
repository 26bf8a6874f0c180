use std::time::Duration;

use sendrealm_e2e::aggregator::UNLIMITED;
use sendrealm_e2e::db;
use sendrealm_e2e::stack::{Database, Pipeline};
use sendrealm_e2e::wait;
use serde_json::json;

#[tokio::test]
async fn ten_thousand_events_through_the_pipeline_on_sqlite() {
    ten_thousand_events_through_the_pipeline(Database::Sqlite).await;
}

#[tokio::test]
async fn ten_thousand_events_through_the_pipeline_on_postgres() {
    ten_thousand_events_through_the_pipeline(Database::postgres().await).await;
}

async fn ten_thousand_events_through_the_pipeline(database: Database) {
    let pipeline = Pipeline::start(database, &UNLIMITED, &[], &[]).await;
    let stack = &pipeline.stack;
    let mut accepted = 0;
    for batch in 0..20 {
        let events: Vec<_> = (0..500)
            .map(|i| {
                json!({"event": "load.test", "email": format!("user{}@example.com", i % 100),
                       "idempotency_key": format!("load-{batch}-{i}"), "payload": {"n": i}})
            })
            .collect();
        let reply = stack.agent.send_batch(&stack.project.key, events).await;
        accepted += reply.json()["accepted"].as_u64().unwrap();
    }
    assert_eq!(accepted, 10_000);
    let url = pipeline.database_url();
    wait::until(Duration::from_secs(120), "10,000 stored events", || async {
        (db::count(
            &url,
            "SELECT count(*) FROM events WHERE event = 'load.test'",
            &[],
        )
        .await
            == 10_000)
            .then_some(())
    })
    .await;
    assert_eq!(
        db::count(
            &url,
            "SELECT count(DISTINCT idempotency_key) FROM events WHERE event = 'load.test'",
            &[]
        )
        .await,
        10_000
    );
    assert_eq!(
        db::count(&url, "SELECT count(*) FROM contacts", &[]).await,
        100
    );
    wait::until(Duration::from_secs(30), "100 contact.created", || async {
        (db::count(
            &url,
            "SELECT count(*) FROM events WHERE event = 'sendrealm.contact.created'",
            &[],
        )
        .await
            == 100)
            .then_some(())
    })
    .await;
}
