use std::process::Command;

use sendrealm_e2e::{bin, repo_root};

/// Exit code for configuration errors (EX_CONFIG).
const EX_CONFIG: i32 = 78;

fn check_config(
    binary: &str,
    config: &std::path::Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(bin(binary))
        .env_clear()
        .envs(env.iter().copied())
        .arg("--config")
        .arg(config)
        .arg("check-config")
        .output()
        .expect("run check-config")
}

#[test]
fn example_configs_pass_check_config() {
    for (binary, file) in [
        ("sendrealm-agent", "config/agent.example.toml"),
        ("sendrealm-aggregator", "config/aggregator.example.toml"),
        ("sendrealm-agent", "config/regions/agent-eu.toml"),
        ("sendrealm-agent", "config/regions/agent-us.toml"),
        ("sendrealm-aggregator", "config/regions/aggregator.toml"),
    ] {
        let out = check_config(binary, &repo_root().join(file), &[]);
        assert!(
            out.status.success(),
            "{binary}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("[nats.stream]"));
    }
}

#[test]
fn typos_and_bad_values_exit_78_naming_the_key() {
    let example = repo_root().join("config/agent.example.toml");
    let out = check_config(
        "sendrealm-agent",
        &example,
        &[("SENDREALM_PUBLISH__DEADLNE_MS", "1")],
    );
    assert_eq!(out.status.code(), Some(EX_CONFIG));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("deadln"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = check_config(
        "sendrealm-agent",
        &example,
        &[("SENDREALM_MAX_BATCH_EVENTS", "0")],
    );
    assert_eq!(out.status.code(), Some(EX_CONFIG));

    let out = check_config(
        "sendrealm-agent",
        std::path::Path::new("/nonexistent.toml"),
        &[],
    );
    assert_eq!(out.status.code(), Some(EX_CONFIG));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn check_config_masks_database_passwords() {
    let out = check_config(
        "sendrealm-aggregator",
        std::path::Path::new("/dev/null"),
        &[("SENDREALM_DATABASE__URL", "postgres://app:hunter2@db/x")],
    );
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("postgres://app:***@db/x"), "{printed}");
}

#[test]
fn the_nats_server_examples_are_valid() {
    let key = || nkeys::KeyPair::new_user().public_key();
    let seed = nkeys::KeyPair::new_user().seed().unwrap();
    let env = [
        ("HUB_LEAF_LISTEN", "127.0.0.1:7422".to_owned()),
        ("HUB_LEAF_URL", "nats-leaf://127.0.0.1:7422".to_owned()),
        ("AGGREGATOR_NKEY", key()),
        ("LEAF_EU_NKEY", key()),
        ("LEAF_US_NKEY", key()),
        ("AGENT_NKEY", key()),
        ("LEAF_SEED", seed),
    ];
    for file in ["hub.conf", "leaf-eu.conf", "leaf-us.conf"] {
        let out = Command::new(sendrealm_e2e::nats::server_binary())
            .env_clear()
            .envs(env.clone())
            .arg("-t")
            .arg("-c")
            .arg(repo_root().join("config/regions").join(file))
            .output()
            .expect("nats-server -t");
        assert!(
            out.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
