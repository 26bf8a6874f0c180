//! The agent's latency when not saturated, on a nats-server of its own: half of its
//! single-event maximum, and 1 % of it against the one-message-per-event agent.
//!
//! A fresh server, because the throughput phases leave millions of message ids in the
//! shared server's duplicate window (two minutes), and its garbage collector then stalls
//! every client alike: that is the earlier phases' cost, not the agent's. The same phase
//! on the shared server is reported next to this one for comparison.

use sendrealm_e2e::agent::Agent;
use sendrealm_e2e::aggregator::AdminCli;
use sendrealm_e2e::nats::NatsServer;

use crate::Plan;
use crate::bodies::single_body;
use crate::loadgen::Target;
use crate::measure::{addr_of, open, pin};
use crate::report::Findings;

/// Measures the open-loop phases for an agent whose maximum is `agent_rate` req/s.
pub async fn run(
    plan: &Plan,
    run_id: &str,
    agent_rate: f64,
    agent_env: &[(&str, &str)],
    findings: &mut Findings,
) -> anyhow::Result<()> {
    let nats = NatsServer::start();
    let cli = AdminCli::sqlite(&nats);
    let project = cli
        .create_project("latency", &sendrealm_e2e::aggregator::UNLIMITED)
        .await;
    let mut env = vec![("SENDREALM_LOG", "warn"), ("SENDREALM_WORKER_THREADS", "1")];
    env.extend_from_slice(agent_env);
    let agent = Agent::start(&nats, &env).await;
    pin(agent.pid(), 0);
    env.push(("SENDREALM_PUBLISH__COALESCE", "false"));
    let single_agent = Agent::start(&nats, &env).await;
    pin(single_agent.pid(), 0);
    let target = |url: &str, tag: &str| Target {
        addr: addr_of(url),
        path: "/events".into(),
        headers: vec![(
            "Authorization".to_owned(),
            format!("Bearer {}", project.key),
        )],
        body: single_body(format!("{run_id}{tag}")),
        id_header: None,
        round: 0,
    };

    let half_rate = (agent_rate / 2.0).max(10.0);
    let at_half = open(&target(&agent.url, "fh"), half_rate, plan.connections, plan).await?;
    findings.measured(
        &format!("agent at half of max ({half_rate:.0}/s, open loop), own server"),
        "req/s",
        &at_half,
        1.0,
    );
    findings.at_most("agent p99 at half of max (ms)", at_half.ms(0.99), 10.0);

    // At 1 % of the maximum an event finds its project idle and goes out alone: no added
    // latency against the one-message-per-event agent.
    let low_rate = (agent_rate / 100.0).max(10.0);
    let coalescing_low = open(&target(&agent.url, "fl"), low_rate, plan.connections, plan).await?;
    let single_low = open(
        &target(&single_agent.url, "fk"),
        low_rate,
        plan.connections,
        plan,
    )
    .await?;
    findings.measured(
        &format!("agent at 1 % of max ({low_rate:.0}/s, open loop), own server"),
        "req/s",
        &coalescing_low,
        1.0,
    );
    findings.measured(
        &format!("one-message agent at 1 % of max ({low_rate:.0}/s, open loop), own server"),
        "req/s",
        &single_low,
        1.0,
    );
    findings.at_most(
        "agent p50 at 1 % of max minus one-message agent's (ms)",
        coalescing_low.ms(0.5) - single_low.ms(0.5),
        0.2,
    );
    agent.stop();
    single_agent.stop();
    Ok(())
}
