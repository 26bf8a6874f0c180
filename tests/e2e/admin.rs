use sendrealm_e2e::aggregator::AdminCli;
use sendrealm_e2e::nats::NatsServer;
use sendrealm_e2e::postgres::PgDatabase;

/// Project administration end to end on one backend.
async fn exercise(cli: &AdminCli, nats: &NatsServer) {
    let created = cli
        .json(&[
            "project",
            "create",
            "--name",
            "Shop",
            "--payload-limit-bytes",
            "1000",
            "--retention-days",
            "7",
            "--json",
        ])
        .await;
    let id = created["project"]["id"].as_str().unwrap().to_owned();
    let key = created["api_key"].as_str().unwrap().to_owned();
    assert!(id.starts_with("proj_"));
    assert!(key.starts_with("sk_"));
    assert_eq!(created["project"]["event_payload_limit_bytes"], 1000);
    assert_eq!(created["project"]["retention_secs"], 7 * 86_400);

    // The policy is in the bucket with the key's hash, never the key.
    let kv = nats
        .jetstream()
        .await
        .get_key_value(sendrealm_common::subjects::DEFAULT_POLICY_BUCKET)
        .await
        .unwrap();
    let policy = kv.get(&id).await.unwrap().expect("policy published");
    let policy: sendrealm_common::policy::ProjectPolicy = serde_json::from_slice(&policy).unwrap();
    assert_eq!(
        policy.api_key_hashes,
        vec![sendrealm_common::apikey::hash_api_key_hex(&key)]
    );
    assert!(!String::from_utf8_lossy(&kv.get(&id).await.unwrap().unwrap()).contains(&key));

    let listed = cli.json(&["project", "list", "--json"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "Shop");

    let updated = cli
        .json(&[
            "project",
            "update",
            &id,
            "--name",
            "Shop EU",
            "--rate-limit-per-sec",
            "5",
            "--json",
        ])
        .await;
    assert_eq!(updated["name"], "Shop EU");
    assert_eq!(updated["rate_limit_per_sec"], 5);
    assert_eq!(
        updated["event_payload_limit_bytes"], 1000,
        "untouched settings stay"
    );

    let shown = cli.json(&["project", "show", &id, "--json"]).await;
    assert_eq!(shown["api_keys"].as_array().unwrap().len(), 1);
    assert_eq!(shown["api_keys"][0]["active"], true);
    assert!(!shown.to_string().contains(&key), "show never prints a key");

    for bad in [
        vec!["project", "update", &id, "--payload-limit-bytes", "0"],
        vec![
            "project",
            "update",
            &id,
            "--payload-limit-bytes",
            "99999999",
        ],
        vec!["project", "update", "proj_nope", "--name", "x"],
        vec!["project", "revoke-key", &id, "key_nope"],
        vec!["project", "create", "--name", " "],
    ] {
        let out = cli.run(&bad).await;
        assert!(!out.status.success(), "{bad:?} should fail");
        assert!(!out.stderr.is_empty(), "{bad:?} should say why");
    }
    let out = cli.run(&["project", "revoke-key", &id, &key]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let policy: sendrealm_common::policy::ProjectPolicy =
        serde_json::from_slice(&kv.get(&id).await.unwrap().unwrap()).unwrap();
    assert!(policy.api_key_hashes.is_empty());
}

#[tokio::test]
async fn projects_are_administered_on_sqlite() {
    let nats = NatsServer::start();
    let cli = AdminCli::sqlite(&nats);
    exercise(&cli, &nats).await;
}

#[tokio::test]
async fn projects_are_administered_on_postgres() {
    let db = PgDatabase::require().await;
    let nats = NatsServer::start();
    let cli = AdminCli::with_database(&nats, &db.url);
    exercise(&cli, &nats).await;
}

#[tokio::test]
async fn an_unreachable_nats_keeps_the_change_and_says_how_to_publish_it() {
    let mut nats = NatsServer::start();
    let cli = AdminCli::sqlite(&nats);
    let project = cli.create_project("p", &[]).await;
    nats.stop();
    let out = cli
        .run(&["project", "update", &project.id, "--name", "renamed"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("project sync"));
    nats.restart();
    let listed = cli.json(&["project", "list", "--json"]).await;
    assert_eq!(listed[0]["name"], "renamed", "the database change was kept");
    let out = cli.run(&["project", "sync"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
