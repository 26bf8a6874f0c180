use std::time::Duration;

use futures::StreamExt;
use sendrealm_common::subjects::{DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX, event_subject};
use sendrealm_e2e::agent::Agent;
use sendrealm_e2e::aggregator::UNLIMITED;
use sendrealm_e2e::aggregator::{ADMIN_TOKEN, AdminCli, Aggregator};
use sendrealm_e2e::db;
use sendrealm_e2e::nats::NatsServer;
use sendrealm_e2e::stack::{Database, Pipeline};
use sendrealm_e2e::wait;
use serde_json::{Value, json};

const SETTLED: Duration = Duration::from_secs(30);

async fn dead_letters(cli: &AdminCli, project: &str) -> Vec<Value> {
    cli.json(&["dlq", "list", "--project", project, "--json"])
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_dead_letters(cli: &AdminCli, project: &str, n: usize) -> Vec<Value> {
    wait::until(SETTLED, &format!("{n} dead letters"), || async {
        let rows = dead_letters(cli, project).await;
        (rows.len() == n).then_some(rows)
    })
    .await
}

/// Waits until the advisory worker has handled everything captured so far.
async fn advisories_settled(nats: &NatsServer) {
    let js = nats.jetstream().await;
    wait::until(SETTLED, "the advisory worker to catch up", || async {
        let stream = js.get_stream("SENDREALM_ADVISORIES").await.ok()?;
        let consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("sendrealm-dlq").await.ok()?;
        let info = consumer.get_info().await.ok()?;
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn failing_events_are_retried_with_growing_backoff_then_dead_lettered_and_replayed_once() {
    let nats = NatsServer::start();
    let cli = AdminCli::sqlite(&nats);
    let project = cli.create_project("flaky", &[]).await;
    let faults = format!("[\"{}\"]", project.id);
    let retry = [
        ("SENDREALM_CONSUMER__MAX_DELIVER", "4"),
        ("SENDREALM_CONSUMER__BACKOFF_MS", "[300, 600, 1200]"),
    ];
    let mut env = retry.to_vec();
    env.push(("SENDREALM_FAULTS__FAIL_PROJECTS", faults.as_str()));
    let aggregator = Aggregator::start(&nats, &cli, &env).await;
    let agent = Agent::start(&nats, &[]).await;

    // Watch the nak advisories: one per failed delivery, timestamped by the server.
    let client = nats.client().await;
    let mut naks = client
        .subscribe(format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.{DEFAULT_STREAM}.sendrealm-aggregator"
        ))
        .await
        .unwrap();
    let reply = agent
        .send_event(
            &project.key,
            &json!({"event": "order.completed", "email": "a@b.co", "idempotency_key": "k1"}),
        )
        .await;
    assert_eq!(reply.status, 202);
    let event_id = reply.data()["id"].as_str().unwrap().to_owned();

    let mut times = Vec::new();
    while times.len() < 4 {
        let advisory = tokio::time::timeout(SETTLED, naks.next())
            .await
            .expect("a nak advisory")
            .unwrap();
        let advisory: Value = serde_json::from_slice(&advisory.payload).unwrap();
        let at = sendrealm_common::event::Timestamp::parse_rfc3339(
            advisory["timestamp"].as_str().unwrap(),
        )
        .unwrap();
        times.push(at.unix_millis());
    }
    let gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= 250 && gaps[1] >= 550 && gaps[2] >= 1100,
        "redeliveries follow the backoff: {gaps:?}"
    );
    assert!(
        gaps[0] < gaps[1] && gaps[1] < gaps[2],
        "delivery gaps grow: {gaps:?}"
    );

    let rows = wait_dead_letters(&cli, &project.id, 1).await;
    assert_eq!(rows[0]["reason"], "max_deliveries");
    assert_eq!(rows[0]["deliveries"], 4);
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap()
            .contains("injected failure"),
        "{}",
        rows[0]
    );
    assert!(rows[0]["last_failed_at"].as_str() > rows[0]["first_failed_at"].as_str());
    let dlq_id = rows[0]["id"].as_str().unwrap().to_owned();
    let shown = cli.json(&["dlq", "show", &dlq_id, "--json"]).await;
    assert_eq!(
        serde_json::from_str::<Value>(shown["payload"].as_str().unwrap()).unwrap()["id"],
        event_id.as_str()
    );
    let (status, counts) = aggregator.get("/v1/dlq/counts", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(counts["data"][0]["pending"], 1);
    // /metrics shows the counts as last read in the background (every few seconds).
    let depth = format!("sendrealm_dlq_depth{{project_id=\"{}\"}} 1", project.id);
    wait::until(
        Duration::from_secs(15),
        "the DLQ depth on /metrics",
        || async {
            let (_, metrics) = aggregator.get_plain("/metrics").await;
            metrics.contains(&depth).then_some(())
        },
    )
    .await;
    let url = cli.database_url();
    assert_eq!(
        db::count_ids(
            &url,
            "SELECT count(*) FROM events WHERE id = $1",
            &[&event_id]
        )
        .await,
        0
    );

    // Fix the cause (no more injected failure), replay: stored exactly once, even twice.
    aggregator.stop();
    let aggregator = Aggregator::start(&nats, &cli, &retry).await;
    let out = cli.run(&["dlq", "replay", &dlq_id]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait::until(SETTLED, "the replayed event to be stored", || async {
        (db::count_ids(
            &url,
            "SELECT count(*) FROM events WHERE id = $1",
            &[&event_id],
        )
        .await
            == 1)
            .then_some(())
    })
    .await;
    let out = cli.run(&["dlq", "replay", &dlq_id]).await;
    assert!(out.status.success());
    // The second replay is deduplicated by JetStream or, later, by the database.
    wait::until(SETTLED, "the stream to be consumed", || async {
        let js = nats.jetstream().await;
        let stream = js.get_stream(DEFAULT_STREAM).await.ok()?;
        let consumer: async_nats::jetstream::consumer::PullConsumer =
            stream.get_consumer("sendrealm-aggregator").await.ok()?;
        let info = consumer.get_info().await.ok()?;
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
    })
    .await;
    assert_eq!(
        db::count_ids(
            &url,
            "SELECT count(*) FROM events WHERE id = $1",
            &[&event_id]
        )
        .await,
        1
    );
    let rows = dead_letters(&cli, &project.id).await;
    assert_eq!(rows[0]["replay_count"], 2);
    assert!(rows[0]["replayed_at"].is_string());
    aggregator.stop();
}

#[tokio::test]
async fn poison_is_dead_lettered_with_its_error_once_on_sqlite() {
    poison_is_dead_lettered_with_its_error_once(Database::Sqlite).await;
}

#[tokio::test]
async fn poison_is_dead_lettered_with_its_error_once_on_postgres() {
    poison_is_dead_lettered_with_its_error_once(Database::postgres().await).await;
}

async fn poison_is_dead_lettered_with_its_error_once(database: Database) {
    let pipeline = Pipeline::start(database, &[], &[], &[]).await;
    let stack = &pipeline.stack;
    let js = stack.nats.jetstream().await;
    let subject = event_subject(DEFAULT_SUBJECT_PREFIX, &stack.project.id, "order.completed");
    js.publish(subject.clone(), "{not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    // Published around the agent: a keyed event under an id its key does not derive.
    let mut forged = stack
        .agent
        .send_event(
            &stack.project.key,
            &json!({"event": "order.completed", "email": "a@b.co", "idempotency_key": "k1"}),
        )
        .await
        .data();
    forged["id"] = json!(sendrealm_common::id::new_event_id());
    js.publish(subject.clone(), forged.to_string().into())
        .await
        .unwrap()
        .await
        .unwrap();

    let rows = wait_dead_letters(&stack.cli, &stack.project.id, 2).await;
    advisories_settled(&stack.nats).await;
    let rows_after = dead_letters(&stack.cli, &stack.project.id).await;
    assert_eq!(
        rows_after.len(),
        2,
        "the TERM advisory did not make a second record"
    );
    let errors: Vec<&str> = rows.iter().map(|r| r["error"].as_str().unwrap()).collect();
    assert!(
        errors.iter().any(|e| e.starts_with("undecodable event")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("does not derive from the idempotency key")),
        "{errors:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r["reason"] == "terminated" && r["deliveries"] == 1)
    );
    let poison = rows
        .iter()
        .find(|r| r["error"].as_str().unwrap().starts_with("undecodable"))
        .unwrap();
    let shown = stack
        .cli
        .json(&["dlq", "show", poison["id"].as_str().unwrap(), "--json"])
        .await;
    assert_eq!(shown["payload"], "{not json");
    assert_eq!(shown["subject"], subject.as_str());

    // The copy in the DLQ stream, on the project's subject.
    let dlq = js.get_stream("SENDREALM_DLQ").await.unwrap();
    let copy = dlq
        .get_last_raw_message_by_subject(&format!("sendrealm.dlq.{}", stack.project.id))
        .await
        .unwrap();
    let copy: Value = serde_json::from_slice(&copy.payload).unwrap();
    assert_eq!(copy["reason"], "terminated");

    let out = stack
        .cli
        .run(&["dlq", "purge", "--project", &stack.project.id])
        .await;
    assert!(out.status.success());
    assert!(dead_letters(&stack.cli, &stack.project.id).await.is_empty());
}

#[tokio::test]
async fn advisories_emitted_while_no_aggregator_runs_become_records_at_start() {
    let nats = NatsServer::start();
    let cli = AdminCli::sqlite(&nats);
    let project = cli.create_project("p", &[]).await;
    // A first run creates the consumer and the advisory capture stream, then stops.
    Aggregator::start(&nats, &cli, &[]).await.stop();
    let agent = Agent::start(&nats, &[]).await;
    let reply = agent
        .send_event(&project.key, &json!({"event": "a.b", "email": "x@y.co"}))
        .await;
    assert_eq!(reply.status, 202);

    // An operator's tool (another instance of the consumer) terminates it while no
    // aggregator runs: only the capture stream hears the advisory.
    let js = nats.jetstream().await;
    let stream = js.get_stream(DEFAULT_STREAM).await.unwrap();
    let consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("sendrealm-aggregator").await.unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .unwrap();
    let message = batch.next().await.expect("the event").unwrap();
    let client = nats.client().await;
    client
        .publish(
            message.reply.clone().unwrap(),
            "+TERM operator: suspicious payload".into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();
    let capture = js.get_stream("SENDREALM_ADVISORIES").await.unwrap();
    wait::until(SETTLED, "the advisory to be captured", || async {
        (capture.get_info().await.ok()?.state.messages >= 1).then_some(())
    })
    .await;
    assert!(dead_letters(&cli, &project.id).await.is_empty());

    let aggregator = Aggregator::start(&nats, &cli, &[]).await;
    let rows = wait_dead_letters(&cli, &project.id, 1).await;
    assert_eq!(rows[0]["reason"], "terminated");
    assert_eq!(rows[0]["error"], "operator: suspicious payload");
    assert_eq!(rows[0]["original_missing"], false);
    aggregator.stop();
    agent.stop();
}

#[tokio::test]
async fn five_thousand_events_with_five_percent_poison_are_all_accounted_for_on_sqlite() {
    five_thousand_events_with_five_percent_poison_are_all_accounted_for(Database::Sqlite).await;
}

#[tokio::test]
async fn five_thousand_events_with_five_percent_poison_are_all_accounted_for_on_postgres() {
    five_thousand_events_with_five_percent_poison_are_all_accounted_for(Database::postgres().await)
        .await;
}

async fn five_thousand_events_with_five_percent_poison_are_all_accounted_for(database: Database) {
    let pipeline = Pipeline::start(database, &UNLIMITED, &[], &[]).await;
    let stack = &pipeline.stack;
    let js = stack.nats.jetstream().await;
    let subject = event_subject(DEFAULT_SUBJECT_PREFIX, &stack.project.id, "mix.test");
    for batch in 0..10 {
        // 475 through the agent (25 of them naming a contact id nobody has: stored
        // unresolved, not refused), 25 poison published around it.
        let events: Vec<Value> = (0..475)
            .map(|i| {
                let n = batch * 500 + i;
                if i % 19 == 0 {
                    json!({"event": "mix.test", "contact_id": sendrealm_common::id::new_contact_id(), "idempotency_key": format!("m{n}")})
                } else {
                    json!({"event": "mix.test", "email": format!("u{}@example.com", n % 50), "idempotency_key": format!("m{n}")})
                }
            })
            .collect();
        let reply = stack.agent.send_batch(&stack.project.key, events).await;
        assert_eq!(reply.json()["accepted"], 475, "{}", reply.text);
        for i in 0..25 {
            js.publish(subject.clone(), format!("{{poison {batch}-{i}").into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }
    let url = pipeline.database_url();
    wait::until(
        Duration::from_secs(120),
        "every event stored or dead-lettered",
        || async {
            let stored = db::count(
                &url,
                "SELECT count(*) FROM events WHERE event = 'mix.test'",
                &[],
            )
            .await;
            let dead = db::count(&url, "SELECT count(*) FROM dead_letters", &[]).await;
            (stored + dead == 5000).then_some(())
        },
    )
    .await;
    assert_eq!(
        db::count(
            &url,
            "SELECT count(*) FROM events WHERE event = 'mix.test'",
            &[]
        )
        .await,
        4750
    );
    assert_eq!(
        db::count(
            &url,
            "SELECT count(*) FROM events WHERE event = 'mix.test' AND contact_id IS NULL",
            &[]
        )
        .await,
        250,
        "unknown contact ids are kept, unresolved"
    );
    assert_eq!(
        db::count(
            &url,
            "SELECT count(*) FROM dead_letters WHERE reason = 'terminated'",
            &[]
        )
        .await,
        250
    );
}
