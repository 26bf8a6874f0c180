use std::time::Duration;

use sendrealm_e2e::aggregator::Aggregator;
use sendrealm_e2e::aggregator::UNLIMITED;
use sendrealm_e2e::db;
use sendrealm_e2e::stack::{Database, Pipeline};
use sendrealm_e2e::wait;
use serde_json::json;

use crate::docs_example;

const STORED: Duration = Duration::from_secs(30);

async fn count_events(pipeline: &Pipeline, event: &str) -> i64 {
    db::count(
        &pipeline.database_url(),
        "SELECT count(*) FROM events WHERE event = $1",
        &[event],
    )
    .await
}

async fn wait_count(pipeline: &Pipeline, event: &str, n: i64, timeout: Duration) {
    wait::until(timeout, &format!("{n} stored {event} events"), || async {
        (count_events(pipeline, event).await == n).then_some(())
    })
    .await;
}

#[tokio::test]
async fn redelivered_events_are_stored_once() {
    let mut pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &[]).await;
    let key = pipeline.stack.project.key.clone();
    let events: Vec<_> = (0..200)
        .map(|i| json!({"event": "order.completed", "email": format!("c{}@example.com", i % 20)}))
        .collect();
    let reply = pipeline.stack.agent.send_batch(&key, events).await;
    assert_eq!(reply.json()["accepted"], 200, "{}", reply.text);
    wait_count(&pipeline, "order.completed", 200, STORED).await;
    wait_count(&pipeline, "sendrealm.contact.created", 20, STORED).await;

    // Force every message to be delivered again: a fresh durable consumer starts from the
    // first message. Nothing may be stored twice and no contact created twice.
    let aggregator = std::mem::replace(
        &mut pipeline.aggregator,
        Aggregator::spawn(
            &pipeline.stack.nats,
            &pipeline.stack.cli,
            &[("SENDREALM_CONSUMER__DURABLE", "second-pass")],
        )
        .await,
    );
    aggregator.stop();
    pipeline.aggregator.wait_ready().await;
    let stream = pipeline.stack.stream().await;
    wait::until(STORED, "the second consumer to catch up", || async {
        let consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("second-pass").await.ok()?;
        let info = consumer.get_info().await.ok()?;
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    })
    .await;
    assert_eq!(count_events(&pipeline, "order.completed").await, 200);
    assert_eq!(
        count_events(&pipeline, "sendrealm.contact.created").await,
        20
    );
    assert_eq!(
        db::count(
            &pipeline.database_url(),
            "SELECT count(*) FROM contacts",
            &[]
        )
        .await,
        20
    );
}

#[tokio::test]
async fn a_crash_between_commit_and_ack_loses_and_duplicates_nothing() {
    let settings = [
        ("SENDREALM_CONSUMER__BATCH_SIZE", "50"),
        ("SENDREALM_CONSUMER__CONCURRENCY", "1"),
        ("SENDREALM_CONSUMER__BACKOFF_MS", "[1000]"),
    ];
    let mut pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &settings).await;
    let key = pipeline.stack.project.key.clone();
    // The events wait in the stream while no aggregator runs, so the one started next
    // meets a backlog of 60 transactions and is killed after its first commits (a drain
    // racing the sends could finish before the kill).
    pipeline.aggregator.crash();
    for batch in 0..6 {
        let events: Vec<_> = (0..500)
            .map(|i| json!({"event": "page.viewed", "external_id": format!("u{}", i % 50), "idempotency_key": format!("pv-{batch}-{i}")}))
            .collect();
        let reply = pipeline.stack.agent.send_batch(&key, events).await;
        assert_eq!(reply.json()["accepted"], 500);
    }
    pipeline.aggregator =
        Aggregator::spawn(&pipeline.stack.nats, &pipeline.stack.cli, &settings).await;
    // SIGKILL mid-stream: batches in hand may be committed but not acked.
    wait::until(STORED, "some events to be stored", || async {
        (count_events(&pipeline, "page.viewed").await > 0).then_some(())
    })
    .await;
    pipeline.aggregator.crash();
    let at_crash = count_events(&pipeline, "page.viewed").await;
    assert!(
        at_crash < 3000,
        "the crash must come before the stream is drained ({at_crash})"
    );
    pipeline.aggregator = Aggregator::spawn(
        &pipeline.stack.nats,
        &pipeline.stack.cli,
        &[("SENDREALM_CONSUMER__BACKOFF_MS", "[1000]")],
    )
    .await;
    wait_count(&pipeline, "page.viewed", 3000, Duration::from_secs(60)).await;
    wait_count(&pipeline, "sendrealm.contact.created", 50, STORED).await;
    assert_eq!(
        db::count(
            &pipeline.database_url(),
            "SELECT count(*) FROM contacts",
            &[]
        )
        .await,
        50
    );
}

#[tokio::test]
async fn the_same_key_after_the_duplicate_window_is_still_one_event() {
    let pipeline = Pipeline::start(
        Database::Sqlite,
        &[],
        &[("SENDREALM_NATS__STREAM__DUPLICATE_WINDOW_SECS", "1")],
        &[],
    )
    .await;
    let stack = &pipeline.stack;
    let first = stack
        .agent
        .send_event(&stack.project.key, &docs_example())
        .await;
    assert_eq!(first.status, 202);
    let second = wait::until(
        Duration::from_secs(10),
        "the duplicate window to pass",
        || async {
            let reply = stack
                .agent
                .send_event(&stack.project.key, &docs_example())
                .await;
            (reply.status == 202).then_some(reply)
        },
    )
    .await;
    assert_eq!(second.data()["id"], first.data()["id"]);
    // Two copies in the stream (the contact.created system event is the third message),
    // one event in the database.
    wait::until(STORED, "both copies to be consumed", || async {
        let (_, text) = pipeline.aggregator.get_plain("/metrics").await;
        (text.contains("sendrealm_aggregator_events_total{outcome=\"duplicate\"} 1")).then_some(())
    })
    .await;
    assert_eq!(stack.stream_events().await, 3);
    assert_eq!(count_events(&pipeline, "order.completed").await, 1);
}

#[tokio::test]
async fn poison_is_terminated_at_once_and_does_not_block_the_rest() {
    let pipeline = Pipeline::start(Database::Sqlite, &[], &[], &[]).await;
    let stack = &pipeline.stack;
    let js = stack.nats.jetstream().await;
    let subject = |event: &str| {
        sendrealm_common::subjects::event_subject(
            sendrealm_common::subjects::DEFAULT_SUBJECT_PREFIX,
            &stack.project.id,
            event,
        )
    };
    // Straight to the stream, bypassing the agent: bad JSON, a reserved name from a
    // customer, no identity.
    let mut valid = stack
        .agent
        .send_event(
            &stack.project.key,
            &json!({"event": "order.completed", "email": "a@b.co"}),
        )
        .await
        .data();
    let good_id = valid["id"].as_str().unwrap().to_owned();
    js.publish(subject("order.completed"), "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let (reserved_id, noidentity_id) = (
        sendrealm_common::id::new_event_id(),
        sendrealm_common::id::new_event_id(),
    );
    valid["event"] = json!("sendrealm.mail.send");
    valid["id"] = json!(reserved_id);
    js.publish(subject("sendrealm.mail.send"), valid.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();
    valid["event"] = json!("order.completed");
    valid["id"] = json!(noidentity_id);
    valid["email"] = json!(null);
    js.publish(subject("order.completed"), valid.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();
    let after = stack
        .agent
        .send_event(
            &stack.project.key,
            &json!({"event": "order.completed", "email": "c@d.co"}),
        )
        .await;
    assert_eq!(after.status, 202);

    wait_count(&pipeline, "order.completed", 2, STORED).await;
    let stream = stack.stream().await;
    let consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("sendrealm-aggregator").await.unwrap();
    let info = wait::until(STORED, "every message settled", || async {
        let info = consumer.get_info().await.ok()?;
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(info)
    })
    .await;
    assert_eq!(info.num_redelivered, 0, "poison is never redelivered");
    let (_, metrics) = pipeline.aggregator.get_plain("/metrics").await;
    assert!(
        metrics.contains("sendrealm_aggregator_events_total{outcome=\"terminated\"} 3"),
        "{metrics}"
    );
    let url = pipeline.database_url();
    assert_eq!(
        db::count_ids(
            &url,
            "SELECT count(*) FROM events WHERE id = $1",
            &[&good_id]
        )
        .await,
        1
    );
    assert_eq!(
        db::count_ids(
            &url,
            "SELECT count(*) FROM events WHERE id IN ($1, $2)",
            &[&reserved_id, &noidentity_id]
        )
        .await,
        0
    );
}
