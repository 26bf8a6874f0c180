//! The agent in a region: publishing to its leaf node (JetStream domain `eu`), whose
//! stream the hub sources. Measured against the same leaf's raw publish rate, with the
//! agent's own credentials, in the same run.

use sendrealm_e2e::aggregator::UNLIMITED;
use sendrealm_e2e::regions::{Topology, connect};

use crate::Plan;
use crate::bodies::{event_body, single_body};
use crate::ceilings;
use crate::loadgen::Target;
use crate::measure::{addr_of, closed, open, pin};
use crate::report::Findings;

/// Runs the regional phases into `findings`.
pub async fn run(plan: &Plan, run_id: &str, findings: &mut Findings) -> anyhow::Result<()> {
    let topology = Topology::start().await;
    let project = topology.cli.create_project("bench", &UNLIMITED).await;
    // Provision the regions once (the CLI does what a running aggregator would), so no
    // aggregator competes for the cores.
    let provisioned = topology.cli.run(&["regions"]).await;
    anyhow::ensure!(
        provisioned.status.success(),
        "regions: {}",
        String::from_utf8_lossy(&provisioned.stderr)
    );
    let agent = topology
        .agent(
            "eu",
            &[("SENDREALM_LOG", "warn"), ("SENDREALM_WORKER_THREADS", "1")],
        )
        .await;
    pin(agent.pid(), 0);

    let leaf = connect(&topology.leaf("eu").url(), &topology.agent_key, None).await?;
    let js = async_nats::jetstream::new(leaf);
    let body = event_body(run_id, 0);
    let subject = format!("sendrealm.regions.eu.events.{}.bench.raw", project.id);
    let raw = ceilings::jetstream(&js, &subject, &body, plan.raw_messages, None).await?;
    findings.rate(
        "raw JetStream publish to a region's leaf node (Nats-Msg-Id, 1024 acks in flight)",
        "msg/s",
        raw,
    );
    eprintln!("raw JetStream on the leaf: {raw:.0} msg/s");

    let auth = vec![(
        "Authorization".to_owned(),
        format!("Bearer {}", project.key),
    )];
    let target = Target {
        addr: addr_of(&agent.url),
        path: "/events".into(),
        headers: auth,
        body: single_body(format!("{run_id}e")),
        id_header: None,
        round: 0,
    };
    let mut rates = Vec::new();
    for round in 0..plan.rounds {
        let mut target = target.clone();
        target.body = single_body(format!("{run_id}e{round}"));
        target.round = round as u64;
        let outcome = closed(&target, plan.connections, plan).await?;
        eprintln!("round {round}: regional agent {:.0} req/s", outcome.rate());
        rates.push(outcome);
    }
    rates.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let median = &rates[rates.len() / 2];
    findings.measured(
        &format!(
            "agent POST /events on a region's leaf node [median of {}]",
            rates.len()
        ),
        "req/s",
        median,
        1.0,
    );
    findings.note(
        "regional agent events/s / the leaf's raw JetStream",
        format!("{:.2}", median.rate() / raw),
    );
    let half_rate = (median.rate() / 2.0).max(10.0);
    let mut half = target.clone();
    half.body = single_body(format!("{run_id}eh"));
    let at_half = open(&half, half_rate, plan.connections, plan).await?;
    findings.measured(
        &format!("regional agent at half of max ({half_rate:.0}/s, open loop)"),
        "req/s",
        &at_half,
        1.0,
    );
    findings.note(
        "regional agent p50 / p99 at half of max (ms)",
        format!("{:.1} / {:.1}", at_half.ms(0.5), at_half.ms(0.99)),
    );
    agent.stop();
    Ok(())
}
