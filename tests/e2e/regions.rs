//! Regions on leaf nodes (docs/deploy.md): a hub and two leaves started from the examples
//! in `config/regions/`. Agents publish to their region's stream; the hub's events stream
//! sources both; the aggregator stores from the hub.

use std::time::Duration;

use sendrealm_e2e::aggregator::UNLIMITED;
use sendrealm_e2e::load::{Load, LoadConfig};
use sendrealm_e2e::regions::{REGIONS, Topology, connect};
use sendrealm_e2e::{db, wait};
use serde_json::json;

/// How long the hub is away.
const OUTAGE: Duration = Duration::from_secs(30);
/// Sources resume 10-40 s after a link returns (NATS.md §6.4); then the backlog drains.
const CATCH_UP: Duration = Duration::from_secs(150);
/// A policy change reaches both regions' agents through the mirrors.
const PROPAGATION: Duration = Duration::from_secs(20);

#[tokio::test]
async fn regions_keep_accepting_through_a_hub_outage_and_everything_is_stored_once() {
    let mut topology = Topology::start().await;
    let project = topology.cli.create_project("regions", &UNLIMITED).await;
    let aggregator = topology.aggregator(&[]).await;
    let eu = topology.agent("eu", &[]).await;
    let us = topology.agent("us", &[]).await;
    let url = topology.cli.database_url();

    // One idempotency key posted in both regions is one event; events from both regions
    // reach the hub's aggregator, each stamped with its region.
    for (agent, region) in [(&eu, "eu"), (&us, "us")] {
        let reply = agent
            .send_event(
                &project.key,
                &json!({"event": "region.shared", "external_id": "both", "idempotency_key": "shared-key",
                        "payload": {"from": region}}),
            )
            .await;
        assert_eq!(reply.status, 202, "{region}: {}", reply.text);
        // A resend in the same region is answered with the original, read back from the
        // regional stream with the agent's own (narrow) credentials.
        let again = agent
            .send_event(
                &project.key,
                &json!({"event": "region.shared", "external_id": "both", "idempotency_key": "shared-key",
                        "payload": {"from": "a resend"}}),
            )
            .await;
        assert_eq!(again.status, 200, "{region}: {}", again.text);
        assert_eq!(again.data()["deduplicated"], true);
        assert_eq!(again.data()["payload"]["from"], region);
        // Sent after the shared key: once these are stored, so is (or was dropped) each
        // region's copy of it, since a region's stream reaches the hub in order.
        for i in 0..5 {
            let reply = agent
                .send_event(
                    &project.key,
                    &json!({"event": "region.hello", "external_id": format!("{region}-{i}"),
                            "idempotency_key": format!("hello-{region}-{i}")}),
                )
                .await;
            assert_eq!(reply.status, 202, "{region}: {}", reply.text);
            assert_eq!(reply.data()["region"], region);
        }
    }
    db::wait_count(
        &url,
        "SELECT count(*) FROM events WHERE event = $1",
        &["region.hello"],
        10,
        CATCH_UP,
    )
    .await;
    // The second copy is within the hub stream's duplicate window: dropped there; past it,
    // the aggregator's unique event id would absorb it.
    assert_eq!(
        shared_key_events(&url).await,
        1,
        "the key posted to both regions is one event"
    );

    // A key revoked before the outage.
    let second = topology
        .cli
        .json(&[
            "project",
            "rotate-key",
            &project.id,
            "--keep-existing",
            "--json",
        ])
        .await;
    let revoked = second["api_key"].as_str().unwrap().to_owned();
    let out = topology
        .cli
        .run(&["project", "revoke-key", &project.id, &revoked])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = json!({"event": "region.probe", "external_id": "p"});
    for agent in [&eu, &us] {
        wait::until(PROPAGATION, "the revocation in the region", || async {
            (agent.send_event(&revoked, &probe).await.status == 401).then_some(())
        })
        .await;
    }

    let load = |agent: &sendrealm_e2e::agent::Agent, region: &str| {
        Load::start(
            &agent.url,
            &project.key,
            LoadConfig {
                workers: 2,
                event: format!("region.load.{region}"),
                pause: Duration::from_millis(25),
                ..LoadConfig::default()
            },
        )
    };
    let loads = [load(&eu, "eu"), load(&us, "us")];
    for load in &loads {
        load.wait_for_acks(50, Duration::from_secs(20)).await;
    }

    topology.hub.stop();
    let outage = tokio::time::Instant::now();
    for load in &loads {
        load.wait_for_acks(200, OUTAGE).await;
    }
    // During the outage the revoked key stays revoked, and an agent started now (a
    // restart) loads its policies from the region's mirror and accepts events.
    for agent in [&eu, &us] {
        assert_eq!(agent.send_event(&revoked, &probe).await.status, 401);
    }
    let restarted = topology.agent("eu", &[]).await;
    assert_eq!(restarted.send_event(&revoked, &probe).await.status, 401);
    let reply = restarted
        .send_event(&project.key, &json!({"event": "region.restarted", "external_id": "r", "idempotency_key": "restarted-1"}))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    restarted.stop();
    tokio::time::sleep_until(outage + OUTAGE).await;
    for load in &loads {
        load.wait_for_acks(50, Duration::from_secs(20)).await;
    }
    topology.hub.resume();
    for load in &loads {
        load.wait_for_acks(50, Duration::from_secs(20)).await;
    }

    for (load, region) in loads.into_iter().zip(REGIONS) {
        let ledger = load.stop().await;
        assert!(
            ledger.unconfirmed.is_empty(),
            "{region}: every request is answered 202 by its region: {:?}",
            ledger.unconfirmed
        );
        let event = format!("region.load.{region}");
        let acked = ledger.acked.len() as i64;
        wait::until(CATCH_UP, &format!("{region}'s backlog stored"), || async {
            let stored = db::count(
                &url,
                "SELECT count(DISTINCT idempotency_key) FROM events WHERE event = $1",
                &[&event],
            )
            .await;
            (stored >= acked).then_some(())
        })
        .await;
        let report = ledger.check(
            &format!("hub outage, region {region}"),
            &db::stored_keys(&url, &event).await,
        );
        assert_eq!(report.stored_unconfirmed, 0);
    }
    db::wait_count(
        &url,
        "SELECT count(*) FROM events WHERE idempotency_key = $1",
        &["restarted-1"],
        1,
        CATCH_UP,
    )
    .await;

    assert_eq!(
        shared_key_events(&url).await,
        1,
        "the key posted to both regions is still one event after everything arrived"
    );

    // The hub's view of its regions.
    wait::until(
        Duration::from_secs(20),
        "both regions ready in /metrics",
        || async {
            let (_, text) = aggregator.get_plain("/metrics").await;
            REGIONS
                .iter()
                .all(|r| text.contains(&format!("sendrealm_region_ready{{region=\"{r}\"}} 1")))
                .then_some(())
        },
    )
    .await;
    let status = topology.cli.json(&["regions", "--json"]).await;
    for state in status.as_array().unwrap() {
        assert_eq!(state["provisioned"], true, "{status}");
        assert_eq!(state["sourced"], true, "{status}");
        assert_eq!(state["lag"], 0, "{status}");
    }
    eu.stop();
    us.stop();
    aggregator.stop();
}

#[tokio::test]
async fn an_agents_credentials_reach_only_its_regions_subjects_and_the_policies() {
    let topology = Topology::start().await;
    let project = topology.cli.create_project("creds", &[]).await;
    let aggregator = topology.aggregator(&[]).await;
    let leaf = topology.leaf("eu").url();
    let (errors_tx, mut errors) = tokio::sync::mpsc::unbounded_channel();
    let client = connect(&leaf, &topology.agent_key, Some(errors_tx))
        .await
        .expect("the agent's identity is accepted by its leaf");
    let js = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .build(client.clone());

    // What an agent needs works: its region's events are acknowledged by the leaf.
    wait::until(Duration::from_secs(20), "the regional stream", || async {
        js.get_stream("SENDREALM_REGION").await.ok().map(|_| ())
    })
    .await;
    let ack = js
        .publish(
            format!("sendrealm.regions.eu.events.{}.creds.ok", project.id),
            "{}".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(
        ack.domain, "eu",
        "acknowledged by the region's own JetStream"
    );

    // It cannot read the hub's events stream, by subscription or by consumer…
    let _sub = client.subscribe("sendrealm.events.>").await.unwrap();
    denied(&mut errors, "sendrealm.events.>").await;
    let hub = async_nats::jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(2))
        .domain("hub")
        .build(client.clone());
    assert!(hub.get_stream("SENDREALM_EVENTS").await.is_err());
    denied(&mut errors, "$JS.hub.API.STREAM.INFO.SENDREALM_EVENTS").await;
    let consumer = async_nats::jetstream::consumer::pull::Config {
        durable_name: Some("intruder".into()),
        ..Default::default()
    };
    assert!(
        js.create_consumer_on_stream(consumer, "SENDREALM_REGION")
            .await
            .is_err()
    );
    denied(&mut errors, "$JS.API.CONSUMER.CREATE.SENDREALM_REGION").await;

    // …nor write the policy bucket, directly or through the mirror…
    client
        .publish(
            format!("$KV.sendrealm_policies.{}", project.id),
            "{}".into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();
    denied(&mut errors, "$KV.sendrealm_policies").await;
    let mirror = js.get_key_value("sendrealm_policies").await.unwrap();
    assert!(mirror.put(&project.id, "{}".into()).await.is_err());
    denied(&mut errors, "$JS.hub.API.$KV.sendrealm_policies").await;

    // …nor publish another region's events.
    client
        .publish("sendrealm.regions.us.events.x.y".to_owned(), "{}".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    denied(&mut errors, "sendrealm.regions.us.events.x.y").await;

    // The policy is untouched at the hub.
    let hub_bucket = async_nats::jetstream::new(topology.hub_client().await)
        .get_key_value("sendrealm_policies")
        .await
        .unwrap();
    let policy = hub_bucket.get(&project.id).await.unwrap().unwrap();
    assert!(policy.len() > 2, "the policy is still the aggregator's");

    // Identities do not cross: the aggregator's is unknown to leaves, the agents' to the hub.
    assert!(
        connect(&leaf, &topology.aggregator_key, None)
            .await
            .is_err()
    );
    assert!(
        connect(&topology.hub.url(), &topology.agent_key, None)
            .await
            .is_err()
    );
    aggregator.stop();
}

/// Waits for the server's permission error naming `what`.
/// Stored events of the idempotency key posted to both regions.
async fn shared_key_events(url: &str) -> i64 {
    db::count(
        url,
        "SELECT count(*) FROM events WHERE idempotency_key = $1",
        &["shared-key"],
    )
    .await
}

async fn denied(errors: &mut tokio::sync::mpsc::UnboundedReceiver<String>, what: &str) {
    let error = tokio::time::timeout(Duration::from_secs(5), errors.recv())
        .await
        .unwrap_or_else(|_| panic!("no permission error for {what}"))
        .unwrap();
    assert!(
        error.to_lowercase().contains("permissions violation") && error.contains(what),
        "{what}: {error}"
    );
}

#[test]
fn nkey_writes_a_private_seed_once_and_prints_its_public_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let seed_file = dir.path().join("agent.seed");
    let run = || {
        std::process::Command::new(sendrealm_e2e::bin("sendrealm-aggregator"))
            .env_clear()
            .args(["--config", "/dev/null", "nkey", "--seed-file"])
            .arg(&seed_file)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let seed = std::fs::read_to_string(&seed_file).unwrap();
    let pair = nkeys::KeyPair::from_seed(seed.trim()).unwrap();
    assert_eq!(pair.public_key(), public, "the printed key is the seed's");
    assert!(public.starts_with('U'), "a user key: {public}");
    let mode = std::fs::metadata(&seed_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner reads the seed");
    // A second run never overwrites a seed in use.
    let again = run();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("must not exist"));
    assert_eq!(std::fs::read_to_string(&seed_file).unwrap(), seed);
}
