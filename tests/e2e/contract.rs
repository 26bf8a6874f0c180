//! The published contract checked against the running services: schemathesis generates
//! requests from docs/openapi.yaml (agent) and docs/openapi-aggregator.yaml (aggregator),
//! a bounded number per operation with a fixed seed, and every check must pass (no server
//! error, statuses, headers, content types and bodies as documented, bad input refused,
//! good input accepted, auth not ignored). `./scripts/test` installs schemathesis from PyPI
//! into `.tools/schemathesis`.

use std::path::PathBuf;
use std::process::Command;

use sendrealm_e2e::aggregator::{ADMIN_TOKEN, UNLIMITED};
use sendrealm_e2e::repo_root;
use sendrealm_e2e::stack::{Database, Pipeline};

/// Examples per operation: bounded so the run stays within the suite's time.
const MAX_EXAMPLES: &str = "25";
/// A fixed seed: the same requests every run (`SENDREALM_SCHEMATHESIS_SEED` to vary).
const SEED: &str = "20261203";

fn schemathesis() -> PathBuf {
    let path = std::env::var_os("SCHEMATHESIS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/schemathesis/bin/schemathesis"));
    assert!(
        path.is_file(),
        "schemathesis is missing at {}: ./scripts/test installs it into .tools/ \
         (python3 -m venv .tools/schemathesis && .tools/schemathesis/bin/pip install schemathesis)",
        path.display()
    );
    path
}

/// Runs schemathesis against `url` with `token` on the operations whose path matches
/// `paths`; returns its report when it found failures.
fn check(schema: &str, url: &str, token: &str, paths: &str) -> Option<String> {
    let seed = std::env::var("SENDREALM_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into());
    let reports = tempfile::tempdir().expect("temp dir");
    let output = Command::new(schemathesis())
        .arg("--config-file")
        .arg(repo_root().join("tests/schemathesis.toml"))
        .arg("run")
        .arg(repo_root().join(schema))
        .args(["--url", url])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", "all"])
        .args(["--include-path-regex", paths])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", &seed])
        .args(["--workers", "2"])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .args(["--no-color", "--output-truncate", "false"])
        .arg("--report-dir")
        .arg(reports.path())
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    (!output.status.success()).then(|| {
        format!(
            "schemathesis found contract failures in {schema} (seed {seed}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_keep_their_published_contract() {
    let pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &[]).await;
    let agent_url = pipeline.stack.agent.url.clone();
    let key = pipeline.stack.project.key.clone();
    let aggregator_url = pipeline.aggregator.url.clone();
    let service_token = pipeline.stack.cli.service_token("contract").await;
    // Each credential on the operations it is for: the project key on the read API and
    // the catalog, the admin token on the backoffice, a service token on the internal
    // endpoints. The open endpoints go with the first.
    const AGGREGATOR: &str = "docs/openapi-aggregator.yaml";
    let failures = tokio::task::spawn_blocking(move || {
        [
            check("docs/openapi.yaml", &agent_url, &key, "."),
            check(
                AGGREGATOR,
                &aggregator_url,
                &key,
                "^/(v1/(events|contacts|catalog|dlq)|healthz|readyz|metrics)",
            ),
            check(AGGREGATOR, &aggregator_url, ADMIN_TOKEN, "^/v1/backoffice/"),
            check(
                AGGREGATOR,
                &aggregator_url,
                &service_token,
                "^/v1/(waits|system-events)",
            ),
        ]
    })
    .await
    .expect("schemathesis runs");
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
