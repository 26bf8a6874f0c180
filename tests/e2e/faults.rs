//! Faults under load. Each test runs load with a ledger, injects one fault, lets the
//! pipeline drain, and compares the acknowledged keys with the stored rows key by key: a
//! fault may cost availability (503, a cut connection) but never an acknowledged event,
//! and never a duplicate. The printed `fault report` lines are docs/durability.md's figures.

use std::time::Duration;

use sendrealm_e2e::agent::Agent;
use sendrealm_e2e::aggregator::{AdminCli, Aggregator, UNLIMITED};
use sendrealm_e2e::db;
use sendrealm_e2e::load::{Load, LoadConfig};
use sendrealm_e2e::nats::{NatsServer, cluster_url};
use sendrealm_e2e::stack::{Database, Pipeline, drained};
use sendrealm_e2e::wait;

/// Acknowledgements the load must reach before and after a fault.
const PROGRESS: usize = 400;
/// How long progress may take (debug builds, a loaded machine).
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the aggregator may take to drain after the load.
const DRAIN: Duration = Duration::from_secs(120);

/// Stops the load, waits for the drain and checks the ledger against the stored rows.
async fn settle(load: Load, nats: &NatsServer, database_url: &str, fault: &str) {
    let ledger = load.stop().await;
    drained(nats, DRAIN).await;
    let keys = db::stored_keys(database_url, "load.sent").await;
    ledger.check(fault, &keys);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_under_load_loses_and_duplicates_nothing() {
    let mut pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &[]).await;
    let key = pipeline.stack.project.key.clone();
    let load = Load::start(&pipeline.stack.agent.url, &key, LoadConfig::default());
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    pipeline.stack.agent.crash();
    let agent = Agent::start(&pipeline.stack.nats, &[]).await;
    load.retarget(&agent.url);
    pipeline.stack.agent = agent;
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    settle(
        load,
        &pipeline.stack.nats,
        &pipeline.database_url(),
        "kill -9 of the agent",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_killed_mid_batch_on_sqlite() {
    aggregator_killed_mid_batch(Database::Sqlite, "kill -9 of the aggregator (SQLite)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregator_killed_mid_batch_on_postgres() {
    aggregator_killed_mid_batch(
        Database::postgres().await,
        "kill -9 of the aggregator (PostgreSQL)",
    )
    .await;
}

/// The aggregator killed while it stores, restarted, and the load goes on.
async fn aggregator_killed_mid_batch(database: Database, fault: &str) {
    let settings = [("SENDREALM_CONSUMER__BACKOFF_MS", "[500]")];
    let mut pipeline = Pipeline::start(database, &UNLIMITED, &[], &settings).await;
    let key = pipeline.stack.project.key.clone();
    let url = pipeline.database_url();
    let load = Load::start(&pipeline.stack.agent.url, &key, LoadConfig::default());
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    // Killed while it is storing: some rows are in, the stream is not drained.
    wait::until(PROGRESS_TIMEOUT, "the first stored events", || async {
        (!db::stored_keys(&url, "load.sent").await.is_empty()).then_some(())
    })
    .await;
    pipeline.aggregator.crash();
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    pipeline.aggregator =
        Aggregator::start(&pipeline.stack.nats, &pipeline.stack.cli, &settings).await;
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    settle(load, &pipeline.stack.nats, &url, fault).await;
}

/// nats-server stopped under load (SIGTERM, or SIGKILL with `crash`), then started again.
async fn nats_server_stopped_under_load(crash: bool, fault: &str) {
    let mut pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &[]).await;
    let key = pipeline.stack.project.key.clone();
    let load = Load::start(&pipeline.stack.agent.url, &key, LoadConfig::default());
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    if crash {
        pipeline.stack.nats.kill();
    } else {
        pipeline.stack.nats.stop();
    }
    // The agents answer 503 while the server is away: wait until they do.
    let before = load.acked();
    wait::until(
        PROGRESS_TIMEOUT,
        "the agent to answer 503 during the outage",
        || async {
            let reply = pipeline
                .stack
                .agent
                .send_event(
                    &key,
                    &serde_json::json!({"event": "probe.sent", "external_id": "p"}),
                )
                .await;
            (reply.status == 503).then_some(())
        },
    )
    .await;
    let during = load.acked() - before;
    pipeline.stack.nats.restart();
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    println!("{fault}: {during} acknowledgements while the server was going away");
    settle(load, &pipeline.stack.nats, &pipeline.database_url(), fault).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_terminated_under_load_loses_and_duplicates_nothing() {
    nats_server_stopped_under_load(false, "nats-server SIGTERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_killed_under_load_loses_and_duplicates_nothing() {
    nats_server_stopped_under_load(true, "nats-server kill -9").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_leader_of_a_three_node_cluster_killed_under_load() {
    let mut servers = NatsServer::start_cluster(3).await;
    let seeds = cluster_url(&servers);
    let replicas = [
        ("SENDREALM_NATS__URL", seeds.as_str()),
        ("SENDREALM_NATS__STREAM__REPLICAS", "3"),
    ];
    let cli = AdminCli::sqlite(&servers[0])
        .with_setting("SENDREALM_NATS__URL", &seeds)
        .with_setting("SENDREALM_NATS__STREAM__REPLICAS", "3");
    let project = cli.create_project("r3", &UNLIMITED).await;
    let agent = Agent::start(&servers[0], &replicas).await;
    let aggregator = Aggregator::start(&servers[0], &cli, &replicas).await;
    let load = Load::start(&agent.url, &project.key, LoadConfig::default());
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;

    let js = servers[1].jetstream().await;
    let mut stream = js
        .get_stream(sendrealm_common::subjects::DEFAULT_STREAM)
        .await
        .expect("events stream");
    let info = stream.info().await.expect("stream info");
    assert_eq!(
        info.config.num_replicas, 3,
        "the events stream is replicated"
    );
    let leader = info
        .cluster
        .clone()
        .and_then(|c| c.leader)
        .expect("the stream has a leader");
    let index: usize = leader
        .trim_start_matches("node-")
        .parse()
        .expect("a node-<i> leader");
    servers[index].kill();
    // A new leader is elected; the load goes on through the other two nodes.
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    let survivor = &servers[(index + 1) % 3];
    settle(
        load,
        survivor,
        &cli.database_url(),
        "stream leader of an R3 cluster kill -9",
    )
    .await;
    aggregator.stop();
    agent.stop();
    drop(servers);
}

// The proxy runs on the test's runtime: a second thread keeps it forwarding while the
// test blocks on the aggregator's shutdown (which still talks to the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_for_30_s_under_load_loses_and_duplicates_nothing() {
    let pg = sendrealm_e2e::postgres::PgDatabase::require().await;
    let proxy = sendrealm_e2e::proxy::Proxy::start("127.0.0.1:5432").await;
    let proxied = pg
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(proxied, pg.url);
    let nats = NatsServer::start();
    let cli = AdminCli::with_database(&nats, &pg.url);
    let stack = sendrealm_e2e::stack::Stack::start_on(nats, cli, &UNLIMITED, &[]).await;
    let aggregator_cli = AdminCli::with_database(&stack.nats, &proxied);
    let aggregator = Aggregator::start(
        &stack.nats,
        &aggregator_cli,
        &[
            ("SENDREALM_CONSUMER__BACKOFF_MS", "[200, 500, 1000, 2000]"),
            ("SENDREALM_CONSUMER__MAX_DELIVER", "1000"),
            ("SENDREALM_DATABASE__MAX_CONNECTIONS", "4"),
        ],
    )
    .await;
    // Paced: the outage's backlog stays a few tens of thousands of events.
    let paced = LoadConfig {
        pause: Duration::from_millis(20),
        ..LoadConfig::default()
    };
    let load = Load::start(&stack.agent.url, &stack.project.key, paced);
    wait::until(PROGRESS_TIMEOUT, "the first stored events", || async {
        (!db::stored_keys(&pg.url, "load.sent").await.is_empty()).then_some(())
    })
    .await;

    proxy.cut();
    let outage = std::time::Instant::now();
    // The edge keeps accepting while the database is away.
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    // The aggregator's endpoints answer at once: a probe with a short timeout gets 503
    // from /readyz, metrics come from memory, reads fail fast with 503.
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let ready = probe
        .get(format!("{}/readyz", aggregator.url))
        .send()
        .await
        .expect("/readyz answers within a probe's timeout");
    assert_eq!(ready.status().as_u16(), 503);
    let metrics = probe
        .get(format!("{}/metrics", aggregator.url))
        .send()
        .await
        .expect("/metrics answers without the database");
    assert_eq!(metrics.status().as_u16(), 200);
    let read = reqwest::Client::builder()
        .timeout(Duration::from_secs(4))
        .build()
        .unwrap()
        .get(format!("{}/v1/events", aggregator.url))
        .bearer_auth(sendrealm_e2e::aggregator::ADMIN_TOKEN)
        .send()
        .await
        .expect("the read API fails fast without the database");
    assert_eq!(read.status().as_u16(), 503);
    assert!(read.headers().contains_key("retry-after"));
    // Away for 30 s in all while the aggregator retries; nothing is stored meanwhile.
    let at_cut = db::stored_keys(&pg.url, "load.sent").await.len();
    while outage.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        db::stored_keys(&pg.url, "load.sent").await.len(),
        at_cut,
        "nothing can be stored while the database is away"
    );
    proxy.restore();
    load.wait_for_acks(PROGRESS, PROGRESS_TIMEOUT).await;
    settle(
        load,
        &stack.nats,
        &pg.url,
        "PostgreSQL unreachable for 30 s",
    )
    .await;
    aggregator.stop();
}
