//! wait_for_event end to end: waits registered by the automation engine (service token),
//! matched with the store's identity resolution, timed out across a crash, and each
//! outcome published once on the waits stream, with one aggregator or two.

use std::collections::BTreeMap;
use std::time::Duration;

use sendrealm_e2e::aggregator::{AdminCli, Aggregator};
use sendrealm_e2e::nats::NatsServer;
use sendrealm_e2e::stack::{Database, Pipeline, Stack};
use sendrealm_e2e::wait;
use serde_json::{Value, json};

const SETTLED: Duration = Duration::from_secs(30);

fn rfc3339_in(ms: i64) -> String {
    sendrealm_common::event::Timestamp::from_unix_millis(
        sendrealm_common::event::Timestamp::now().unix_millis() + ms,
    )
    .to_rfc3339()
}

/// The wait once its status is `status`.
async fn wait_until(agg: &Aggregator, token: &str, id: &str, status: &str) -> Value {
    wait::until(SETTLED, &format!("wait {id} to be {status}"), || async {
        let (code, body) = agg.get(&format!("/v1/waits/{id}"), token).await;
        (code == 200 && body["data"]["status"] == status).then(|| body["data"].clone())
    })
    .await
}

/// Every outcome on the waits stream: (subject, wait object).
async fn outcomes(nats: &NatsServer) -> Vec<(String, Value)> {
    let js = nats.jetstream().await;
    let Ok(mut stream) = js.get_stream("SENDREALM_WAITS").await else {
        return Vec::new();
    };
    sendrealm_e2e::nats::stream_messages(&mut stream)
        .await
        .into_iter()
        .map(|(subject, body)| {
            let wait = serde_json::from_slice(&body).expect("a wait object");
            (subject, wait)
        })
        .collect()
}

/// Outcomes per wait id.
async fn outcomes_by_wait(nats: &NatsServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, wait) in outcomes(nats).await {
        *counts
            .entry(wait["id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_wait_by_email_is_resumed_by_the_linked_external_id_and_published_once() {
    let pipeline = Pipeline::start(Database::Sqlite, &[], &[], &[]).await;
    let stack = &pipeline.stack;
    let agg = &pipeline.aggregator;
    let project = &stack.project;
    let token = stack.cli.service_token("automations").await;

    // Olivia signs up with both identifiers: the store links them to one contact.
    let reply = stack
        .agent
        .send_event(
            &project.key,
            &json!({"event": "user.signed_up", "email": "olivia@example.com", "external_id": "u-42"}),
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let signup = reply.json()["data"]["id"].as_str().expect("id").to_owned();
    wait::until(SETTLED, "the signup stored", || async {
        (agg.get(&format!("/v1/events/{signup}"), &project.key)
            .await
            .0
            == 200)
            .then_some(())
    })
    .await;

    let body = json!({"id": "run_1:wait_order", "project_id": project.id,
        "waiting_for_event_name": "order.completed", "email": "Olivia@Example.com",
        "match": {"payload.currency": "USD"}, "timeout_at": rfc3339_in(3_600_000),
        "metadata": {"run_id": "run_1"}});
    let (status, created) = agg.post("/v1/waits", &token, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["status"], "waiting");
    assert_eq!(created["data"]["resolved_identity_type"], "email");
    assert_eq!(
        created["data"]["resolved_identity_value"],
        "olivia@example.com"
    );
    // The same registration again answers the wait; another one under its id is refused.
    let (status, again) = agg.post("/v1/waits", &token, &body).await;
    assert_eq!(status, 200, "{again}");
    let mut other = body.clone();
    other["waiting_for_event_name"] = json!("cart.abandoned");
    let (status, conflict) = agg.post("/v1/waits", &token, &other).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"]["code"], "conflict");

    // An order in EUR does not match; one in USD, sent by external_id only, does.
    for (currency, key) in [("EUR", "o-1"), ("USD", "o-2")] {
        let reply = stack
            .agent
            .send_event(
                &project.key,
                &json!({"event": "order.completed", "external_id": "u-42",
                        "payload": {"currency": currency}, "idempotency_key": key}),
            )
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
    let usd = sendrealm_common::id::event_id_for_key(&project.id, "o-2");
    let received = wait_until(agg, &token, "run_1:wait_order", "received").await;
    assert_eq!(received["outcome_branch"], "received");
    assert_eq!(received["resumed_by_event"]["id"], usd.as_str());
    assert_eq!(
        received["resumed_by_event"]["event_name"],
        "order.completed"
    );
    assert_eq!(received["metadata"], json!({"run_id": "run_1"}));

    // A later match changes nothing: a resolved wait stays as it is.
    let reply = stack
        .agent
        .send_event(
            &project.key,
            &json!({"event": "order.completed", "email": "olivia@example.com",
                    "payload": {"currency": "USD"}, "idempotency_key": "o-3"}),
        )
        .await;
    assert_eq!(reply.status, 202);
    // A platform system event resumes a wait too.
    let mail = json!({"id": "run_1:wait_delivery", "project_id": project.id,
        "waiting_for_event_name": "sendrealm.mail.delivery", "external_id": "u-42",
        "match": {"payload.status": "delivered"}, "timeout_at": rfc3339_in(3_600_000)});
    assert_eq!(agg.post("/v1/waits", &token, &mail).await.0, 201);
    let (status, body) = agg
        .post(
            "/v1/system-events",
            &token,
            &json!({"project_id": project.id, "event": "sendrealm.mail.delivery",
                    "email": "olivia@example.com",
                    "payload": {"message_id": "msg_1", "status": "delivered"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let delivered = wait_until(agg, &token, "run_1:wait_delivery", "received").await;
    assert_eq!(
        delivered["resumed_by_event"]["event_name"],
        "sendrealm.mail.delivery"
    );

    wait::until(SETTLED, "both outcomes on the stream", || async {
        (outcomes(&stack.nats).await.len() >= 2).then_some(())
    })
    .await;
    let published = outcomes(&stack.nats).await;
    let subjects: Vec<&str> = published.iter().map(|(s, _)| s.as_str()).collect();
    let expected = format!("sendrealm.waits.{}.received", project.id);
    assert_eq!(subjects, [expected.as_str(), expected.as_str()]);
    let order = &published
        .iter()
        .find(|(_, w)| w["id"] == "run_1:wait_order")
        .expect("the order wait's outcome")
        .1;
    assert_eq!(order["resumed_by_event"]["id"], usd.as_str());
    let (_, still) = agg.get("/v1/waits/run_1:wait_order", &token).await;
    assert_eq!(still["data"]["resumed_by_event"]["id"], usd.as_str());

    // Only a service token opens waits.
    for credential in [project.key.as_str(), sendrealm_e2e::aggregator::ADMIN_TOKEN] {
        assert_eq!(agg.post("/v1/waits", credential, &body).await.0, 401);
        assert_eq!(
            agg.get("/v1/waits/run_1:wait_order", credential).await.0,
            401
        );
    }
}

#[tokio::test]
async fn a_wait_matches_an_event_stored_before_it_and_a_cancel_is_final() {
    let pipeline = Pipeline::start(Database::Sqlite, &["--max-active-waits", "1"], &[], &[]).await;
    let stack = &pipeline.stack;
    let agg = &pipeline.aggregator;
    let project = &stack.project;
    let token = stack.cli.service_token("automations").await;
    let reply = stack
        .agent
        .send_event(
            &project.key,
            &json!({"event": "order.completed", "email": "early@example.com", "idempotency_key": "early"}),
        )
        .await;
    assert_eq!(reply.status, 202);
    let early = sendrealm_common::id::event_id_for_key(&project.id, "early");
    wait::until(SETTLED, "the early event stored", || async {
        (agg.get(&format!("/v1/events/{early}"), &project.key)
            .await
            .0
            == 200)
            .then_some(())
    })
    .await;
    // Registered after the event, with `after` before it: resolved at registration.
    let body = json!({"id": "w-early", "project_id": project.id,
        "waiting_for_event_name": "order.completed", "email": "early@example.com",
        "after": rfc3339_in(-60_000), "timeout_at": rfc3339_in(3_600_000)});
    let (status, created) = agg.post("/v1/waits", &token, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["status"], "received");
    assert_eq!(created["data"]["resumed_by_event"]["id"], early.as_str());

    // The open-waits cap: one open wait at most.
    let open = |id: &str| {
        json!({"id": id, "project_id": project.id, "waiting_for_event_name": "never.sent",
               "email": "x@example.com", "timeout_at": rfc3339_in(3_600_000)})
    };
    assert_eq!(agg.post("/v1/waits", &token, &open("w-open")).await.0, 201);
    let (status, capped) = agg.post("/v1/waits", &token, &open("w-over")).await;
    assert_eq!(status, 429, "{capped}");
    // Cancelled, it frees its place, and stays cancelled.
    let cancelled = agg.delete("/v1/waits/w-open", &token).await;
    assert_eq!(cancelled.0, 200);
    assert_eq!(cancelled.1["data"]["status"], "cancelled");
    assert_eq!(agg.post("/v1/waits", &token, &open("w-over")).await.0, 201);
    let (_, again) = agg.get("/v1/waits/w-open", &token).await;
    assert_eq!(again["data"]["status"], "cancelled");
    assert_eq!(agg.get("/v1/waits/nope", &token).await.0, 404);

    // Bad registrations say what is wrong.
    let mut bad = open("w-bad");
    bad["timeout_at"] = json!(rfc3339_in(-1_000));
    let (status, error) = agg.post("/v1/waits", &token, &bad).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["param"], "timeout_at");
    let mut bad = open("w-bad");
    bad["project_id"] = json!("proj_none");
    assert_eq!(agg.post("/v1/waits", &token, &bad).await.0, 404);
}

#[tokio::test]
async fn a_timeout_fires_after_a_crash_and_is_published_once() {
    let Pipeline {
        mut aggregator,
        stack,
        database: _database,
    } = Pipeline::start(Database::Sqlite, &[], &[], &[]).await;
    let token = stack.cli.service_token("automations").await;
    let body = json!({"id": "w-timeout", "project_id": stack.project.id,
        "waiting_for_event_name": "order.completed", "email": "late@example.com",
        "timeout_at": rfc3339_in(2_000)});
    assert_eq!(aggregator.post("/v1/waits", &token, &body).await.0, 201);
    // The aggregator dies before the timeout and comes back after it.
    aggregator.crash();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let aggregator = Aggregator::start(&stack.nats, &stack.cli, &[]).await;
    let timed_out = wait_until(&aggregator, &token, "w-timeout", "timed_out").await;
    assert_eq!(timed_out["outcome_branch"], "timeout");
    // An event after the timeout does not reopen it.
    let reply = stack
        .agent
        .send_event(
            &stack.project.key,
            &json!({"event": "order.completed", "email": "late@example.com"}),
        )
        .await;
    assert_eq!(reply.status, 202);
    wait::until(SETTLED, "the outcome on the stream", || async {
        (outcomes_by_wait(&stack.nats).await.get("w-timeout") == Some(&1)).then_some(())
    })
    .await;
    let (_, after) = aggregator.get("/v1/waits/w-timeout", &token).await;
    assert_eq!(after["data"]["status"], "timed_out");
    let published = outcomes(&stack.nats).await;
    assert_eq!(published.len(), 1);
    assert_eq!(
        published[0].0,
        format!("sendrealm.waits.{}.timed_out", stack.project.id)
    );
}

async fn two_aggregators_publish_each_outcome_once(database: Database) {
    let nats = NatsServer::start();
    let cli = match &database {
        Database::Sqlite => AdminCli::sqlite(&nats),
        Database::Postgres(db) => AdminCli::with_database(&nats, &db.url),
    };
    let stack = Stack::start_on(nats, cli, &[], &[]).await;
    let env = [("SENDREALM_CONSUMER__BATCH_SIZE", "1")];
    let a = Aggregator::start(&stack.nats, &stack.cli, &env).await;
    let b = Aggregator::start(&stack.nats, &stack.cli, &env).await;
    let token = stack.cli.service_token("automations").await;
    // Twenty waits resumed by events, twenty timed out; registered on both instances.
    for i in 0..40 {
        let agg = if i % 2 == 0 { &a } else { &b };
        let timeout = if i < 20 { 3_600_000 } else { 1_500 };
        let body = json!({"id": format!("w{i}"), "project_id": stack.project.id,
            "waiting_for_event_name": "order.completed", "email": format!("c{i}@example.com"),
            "timeout_at": rfc3339_in(timeout)});
        assert_eq!(agg.post("/v1/waits", &token, &body).await.0, 201);
    }
    let events: Vec<Value> = (0..20)
        .map(|i| json!({"event": "order.completed", "email": format!("c{i}@example.com")}))
        .collect();
    let reply = stack.agent.send_batch(&stack.project.key, events).await;
    assert_eq!(reply.json()["accepted"], 20);
    wait::until(Duration::from_secs(60), "forty outcomes", || async {
        (outcomes_by_wait(&stack.nats).await.len() == 40).then_some(())
    })
    .await;
    let counts = outcomes_by_wait(&stack.nats).await;
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    assert_eq!(outcomes(&stack.nats).await.len(), 40, "no outcome twice");
    for i in 0..40 {
        let (_, wait) = a.get(&format!("/v1/waits/w{i}"), &token).await;
        let expected = if i < 20 { "received" } else { "timed_out" };
        assert_eq!(wait["data"]["status"], expected, "w{i}");
    }
}

#[tokio::test]
async fn two_aggregators_publish_each_outcome_once_on_postgres() {
    two_aggregators_publish_each_outcome_once(Database::postgres().await).await;
}

#[tokio::test]
async fn two_aggregators_publish_each_outcome_once_on_sqlite() {
    two_aggregators_publish_each_outcome_once(Database::Sqlite).await;
}
