//! The whole pipeline at half of its maximum: agent and aggregator together, and the
//! end-to-end latency (agent receipt → committed) the aggregator measures.

use std::time::Duration;

use sendrealm_e2e::agent::Agent;
use sendrealm_e2e::aggregator::{AdminCli, Aggregator};
use sendrealm_e2e::nats::NatsServer;

use crate::Plan;
use crate::bodies::single_body;
use crate::loadgen::{Outcome, Target};
use crate::measure::{addr_of, open, pin};

/// Runs agent and aggregator (SQLite) together under an open-loop load; returns the
/// aggregator's end-to-end p50/p99 (ms) and the agent-side outcome.
pub async fn end_to_end_phase(
    plan: &Plan,
    rate: f64,
    run_id: &str,
) -> anyhow::Result<((f64, f64), Outcome)> {
    let nats = NatsServer::start();
    let cli = AdminCli::sqlite(&nats);
    let project = cli
        .create_project(
            "e2e",
            &[
                "--rate-limit-per-sec",
                "10000000",
                "--rate-limit-burst",
                "10000000",
            ],
        )
        .await;
    let agent = Agent::start(
        &nats,
        &[("SENDREALM_LOG", "warn"), ("SENDREALM_WORKER_THREADS", "1")],
    )
    .await;
    pin(agent.pid(), 0);
    let aggregator = Aggregator::start(&nats, &cli, &[("SENDREALM_LOG", "warn")]).await;
    let target = Target {
        addr: addr_of(&agent.url),
        path: "/events".into(),
        headers: vec![("Authorization".into(), format!("Bearer {}", project.key))],
        body: single_body(format!("{run_id}e")),
        id_header: None,
        round: 0,
    };
    let load = open(&target, rate, plan.connections, plan).await?;
    let e2e = end_to_end(&aggregator).await;
    aggregator.stop();
    agent.stop();
    Ok((e2e, load))
}

/// Reads the aggregator's end-to-end p50 and p99 (ms) once it has drained.
async fn end_to_end(aggregator: &Aggregator) -> (f64, f64) {
    let mut last = (0.0, 0.0);
    for _ in 0..100 {
        let (_, text) = aggregator.get_plain("/metrics").await;
        let value = |q: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with(&format!(
                        "sendrealm_aggregator_end_to_end_seconds{{quantile=\"{q}\"}}"
                    ))
                })
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                * 1000.0
        };
        let now = (value("0.5"), value("0.99"));
        if now == last && now.0 > 0.0 {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    last
}
