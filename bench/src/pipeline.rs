//! The whole pipeline at half of its maximum: agent and aggregator together, and the
//! end-to-end latency (agent receipt → committed) the aggregator measures.
//!
//! The maximum is measured with both running: on one machine the agent, nats-server, the
//! aggregator and the load share the cores, so the slower of the agent and the aggregator
//! measured alone overstates what the two sustain together ([`sustained_max`]).

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
    let loaded = std::time::Instant::now();
    let catch_up = committed_all(&aggregator, load.ok)
        .await
        .map(|()| loaded.elapsed().as_secs_f64());
    let e2e = Latencies {
        catch_up,
        ..latencies(&aggregator).await
    };
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
    /// One batch's write transaction (waiting for the database, statements, commit).
    pub transaction: (f64, f64),
    /// Mean messages per pulled batch.
    pub batch_mean: f64,
    /// Seconds from the end of the load until every accepted event was committed (`None`:
    /// not within a minute).
    pub catch_up: Option<f64>,
}

/// The highest open-loop rate the pipeline sustains, probed by bisection between a quarter
/// of `upper` and `upper` (`probes` phases). A rate is sustained when no request fails, the
/// agent keeps the schedule (p99 within half a second of when each request was due: open
/// loop, so falling behind shows as seconds) and the aggregator has committed every
/// accepted event within a second of the load ending: past the maximum the backlog grows
/// through the phase instead.
pub async fn sustained_max(
    plan: &Plan,
    upper: f64,
    probes: usize,
    run_id: &str,
) -> anyhow::Result<f64> {
    let (mut low, mut high) = (upper / 4.0, upper);
    let mut verified = false;
    for probe in 0..probes {
        let rate = (low + high) / 2.0;
        let (e2e, load) = end_to_end_phase(plan, rate, &format!("{run_id}p{probe}")).await?;
        let on_schedule = load.ms(0.99) <= 500.0;
        let sustained = load.failed == 0 && on_schedule && e2e.catch_up.is_some_and(|s| s <= 1.0);
        eprintln!(
            "pipeline at {rate:.0}/s: {} (agent p99 {:.1} ms, committed all {} after the load)",
            if sustained {
                "sustained"
            } else {
                "not sustained"
            },
            load.ms(0.99),
            e2e.catch_up
                .map_or("not within a minute".to_owned(), |s| format!("{s:.2} s")),
        );
        if sustained {
            low = rate;
            verified = true;
        } else {
            high = rate;
        }
    }
    if !verified {
        eprintln!(
            "warning: no probe was sustained; the pipeline's max is the unprobed lower bound {low:.0}/s"
        );
    }
    Ok(low)
}

/// Waits until the aggregator has committed `accepted` customer events (a minute at most).
async fn committed_all(aggregator: &Aggregator, accepted: u64) -> Option<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let (_, text) = aggregator.get_plain("/metrics").await;
        if metric(&text, "sendrealm_aggregator_end_to_end_seconds_count") >= accepted as f64 {
            return Some(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Reads the aggregator's latencies once it has drained (they stop moving).
async fn latencies(aggregator: &Aggregator) -> Latencies {
    let mut last = Latencies::default();
    for _ in 0..100 {
        let (_, text) = aggregator.get_plain("/metrics").await;
        let value = |line_start: String| metric(&text, &line_start);
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
            transaction: quantiles("transaction"),
            batch_mean: value("sendrealm_aggregator_batch_messages_sum".into()) / batches.max(1.0),
            catch_up: None,
        };
        if now == last && now.end_to_end.0 > 0.0 {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    last
}

/// The value of the first `/metrics` line starting with `line_start` (0 when absent).
fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
}
