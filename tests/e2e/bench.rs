use std::process::Command;

/// The benchmark runs end to end on tiny sizes (its real runs are `./scripts/bench`).
#[test]
fn the_benchmark_runs_end_to_end_on_tiny_sizes_with_postgres() {
    let out = Command::new(sendrealm_e2e::bin("sendrealm-bench"))
        .args(["--smoke", "--no-peer"])
        .current_dir(sendrealm_e2e::repo_root())
        .output()
        .expect("run sendrealm-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "| raw JetStream publish",
        "| naive warp + awaited JetStream publish",
        "| agent POST /events (all checks on)",
        "| agent POST /events/batch",
        "| aggregator draining into SQLite",
        "| agent / naive (single events) |",
        "| SQLite append ceiling",
        "| aggregator / SQLite append ceiling |",
        "| PostgreSQL COPY ceiling",
        "| aggregator / PostgreSQL COPY ceiling |",
        "end-to-end (202 → committed)",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
}
