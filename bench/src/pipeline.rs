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
/// aggregator's latencies and the agent-side outcome.
pub async fn end_to_end_phase(
    plan: &Plan,
    rate: f64,
    run_id: &str,
) -> anyhow::Result<(Latencies, Outcome)> {
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
    let aggregator = Aggregator::start(&nats, &cli, &plan.aggregator_settings()).await;
    let target = Target {
        addr: addr_of(&agent.url),
        path: "/events".into(),
        headers: vec![("Authorization".into(), format!("Bearer {}", project.key))],
        body: single_body(format!("{run_id}e")),
        id_header: None,
        round: 0,
    };
    let load = open(&target, rate, plan.connections, plan).await?;
    let e2e = latencies(&aggregator).await;
    aggregator.stop();
    agent.stop();
    Ok((e2e, load))
}

/// Where the pipeline's time goes, as the aggregator measured it (ms, p50 and p99).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Latencies {
    /// Agent receipt → committed.
    pub end_to_end: (f64, f64),
    /// Agent receipt → pulled by the aggregator.
    pub queue_lag: (f64, f64),
    /// Pulled → committed.
    pub processing: (f64, f64),
    /// Mean messages per pulled batch.
    pub batch_mean: f64,
}

/// Reads the aggregator's latencies once it has drained (they stop moving).
async fn latencies(aggregator: &Aggregator) -> Latencies {
    let mut last = Latencies::default();
    for _ in 0..100 {
        let (_, text) = aggregator.get_plain("/metrics").await;
        let value = |line_start: String| {
            text.lines()
                .find(|l| l.starts_with(&line_start))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let quantiles = |name: &str| {
            let q = |q: &str| {
                value(format!(
                    "sendrealm_aggregator_{name}_seconds{{quantile=\"{q}\"}}"
                )) * 1000.0
            };
            (q("0.5"), q("0.99"))
        };
        let batches = value("sendrealm_aggregator_batch_messages_count".into());
        let now = Latencies {
            end_to_end: quantiles("end_to_end"),
            queue_lag: quantiles("queue_lag"),
            processing: quantiles("processing"),
            batch_mean: value("sendrealm_aggregator_batch_messages_sum".into()) / batches.max(1.0),
        };
        if now == last && now.end_to_end.0 > 0.0 {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    last
}
