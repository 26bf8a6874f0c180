use std::time::Duration;

use sendrealm_e2e::stack::Stack;
use sendrealm_e2e::wait;
use serde_json::json;

/// The promise: a policy change applies on a running agent within this.
const PROPAGATION: Duration = Duration::from_secs(5);

#[tokio::test]
async fn payload_limit_changes_apply_within_seconds() {
    let stack = Stack::start(&[], &[]).await;
    let body = json!({"event": "a.b", "external_id": "u", "payload": {"text": "x".repeat(200)}});
    assert_eq!(
        stack
            .agent
            .send_event(&stack.project.key, &body)
            .await
            .status,
        202
    );
    stack
        .cli
        .json(&[
            "project",
            "update",
            &stack.project.id,
            "--payload-limit-bytes",
            "100",
            "--json",
        ])
        .await;
    wait::until(PROPAGATION, "the lower payload limit", || async {
        (stack
            .agent
            .send_event(&stack.project.key, &body)
            .await
            .status
            == 413)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn rate_limit_changes_apply_within_seconds() {
    let stack = Stack::start(
        &["--rate-limit-per-sec", "1", "--rate-limit-burst", "1"],
        &[],
    )
    .await;
    let body = json!({"event": "a.b", "external_id": "u"});
    stack.agent.send_event(&stack.project.key, &body).await;
    assert_eq!(
        stack
            .agent
            .send_event(&stack.project.key, &body)
            .await
            .status,
        429
    );
    stack
        .cli
        .json(&[
            "project",
            "update",
            &stack.project.id,
            "--rate-limit-per-sec",
            "1000",
            "--rate-limit-burst",
            "1000",
            "--json",
        ])
        .await;
    wait::until(PROPAGATION, "the higher rate limit", || async {
        let reply = stack.agent.send_event(&stack.project.key, &body).await;
        (reply.header("ratelimit-limit") == Some("1000")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn revoked_and_rotated_keys_apply_within_seconds() {
    let stack = Stack::start(&[], &[]).await;
    let body = json!({"event": "a.b", "external_id": "u"});
    let old = stack.project.key.clone();
    assert_eq!(stack.agent.send_event(&old, &body).await.status, 202);

    let rotated = stack
        .cli
        .json(&[
            "project",
            "rotate-key",
            &stack.project.id,
            "--keep-existing",
            "--json",
        ])
        .await;
    let new = rotated["api_key"].as_str().unwrap().to_owned();
    wait::until(PROPAGATION, "the new key", || async {
        (stack.agent.send_event(&new, &body).await.status == 202).then_some(())
    })
    .await;
    assert_eq!(
        stack.agent.send_event(&old, &body).await.status,
        202,
        "kept with --keep-existing"
    );

    let out = stack
        .cli
        .run(&[
            "project",
            "revoke-key",
            &stack.project.id,
            &stack.project.key_id,
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait::until(PROPAGATION, "the revocation", || async {
        let reply = stack.agent.send_event(&old, &body).await;
        (reply.status == 401).then_some(())
    })
    .await;
    let reply = stack.agent.send_event(&old, &body).await;
    assert_eq!(reply.error_code(), "invalid_api_key");
    assert_eq!(stack.agent.send_event(&new, &body).await.status, 202);

    // Rotating without --keep-existing revokes every other key.
    let rotated = stack
        .cli
        .json(&["project", "rotate-key", &stack.project.id, "--json"])
        .await;
    let newest = rotated["api_key"].as_str().unwrap().to_owned();
    wait::until(PROPAGATION, "the rotation", || async {
        let stale = stack.agent.send_event(&new, &body).await.status;
        let fresh = stack.agent.send_event(&newest, &body).await.status;
        (stale == 401 && fresh == 202).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_agent_keeps_its_policies_while_the_bucket_is_unreachable() {
    let stack = Stack::start(&[], &[]).await;
    let body = json!({"event": "a.b", "external_id": "u"});
    // Several revisions first: the recreated bucket numbers from 1 again, and the agent
    // must not take its new, lower revisions for stale ones.
    for i in 0..4 {
        let name = format!("renamed-{i}");
        stack
            .cli
            .json(&[
                "project",
                "update",
                &stack.project.id,
                "--name",
                &name,
                "--json",
            ])
            .await;
    }
    let js = stack.nats.jetstream().await;
    js.delete_key_value(sendrealm_common::subjects::DEFAULT_POLICY_BUCKET)
        .await
        .expect("delete the policy bucket");
    // The watch notices through missed idle heartbeats (about 10 s).
    wait::until(
        Duration::from_secs(30),
        "the agent to notice the bucket is gone",
        || async {
            let ready = stack.agent.get("/readyz").await.ok()?.json();
            (ready["policies_live"] == false).then_some(())
        },
    )
    .await;
    let reply = stack.agent.send_event(&stack.project.key, &body).await;
    assert_eq!(
        reply.status, 202,
        "served from the last known policies: {}",
        reply.text
    );

    // Once the bucket is back (republished from the database), changes flow again.
    let out = stack.cli.run(&["project", "sync"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait::until(Duration::from_secs(10), "the watch to resume", || async {
        let ready = stack.agent.get("/readyz").await.ok()?.json();
        (ready["policies_live"] == true).then_some(())
    })
    .await;
    let out = stack
        .cli
        .run(&[
            "project",
            "revoke-key",
            &stack.project.id,
            &stack.project.key,
        ])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait::until(PROPAGATION, "the revocation after the outage", || async {
        (stack
            .agent
            .send_event(&stack.project.key, &body)
            .await
            .status
            == 401)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_key_revoked_while_nats_is_away_stops_working_once_it_returns() {
    let mut pipeline = sendrealm_e2e::stack::Pipeline::start(
        sendrealm_e2e::stack::Database::Sqlite,
        &[],
        &[],
        &[("SENDREALM_POLICY_RECONCILE_SECS", "1")],
    )
    .await;
    let body = json!({"event": "a.b", "external_id": "u"});
    let key = pipeline.stack.project.key.clone();
    assert_eq!(
        pipeline.stack.agent.send_event(&key, &body).await.status,
        202
    );

    pipeline.stack.nats.stop();
    let out = pipeline
        .stack
        .cli
        .run(&[
            "project",
            "revoke-key",
            &pipeline.stack.project.id,
            &pipeline.stack.project.key_id,
        ])
        .await;
    // The database has it; the agents could not be told.
    assert!(
        !out.status.success(),
        "revoking cannot reach the agents with NATS away"
    );
    pipeline.stack.nats.restart();

    // Nobody runs `project sync`: the aggregator notices the bucket is behind.
    wait::until(
        Duration::from_secs(30),
        "the revoked key to be refused",
        || async {
            let reply = pipeline.stack.agent.send_event(&key, &body).await;
            (reply.status == 401).then_some(())
        },
    )
    .await;
}
