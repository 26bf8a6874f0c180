//! The edge: raw JetStream ceilings, then the agent against a naive server and a peer,
//! single events and batches, all on one nats-server.

use sendrealm_e2e::agent::Agent;
use sendrealm_e2e::aggregator::AdminCli;
use sendrealm_e2e::nats::NatsServer;

use crate::bodies::{batch_body, event_body, single_body};
use crate::loadgen::Target;
use crate::measure::{
    Measured, addr_of, closed, cpu_secs, free_addr, num_cpus, open, peak_rss_mb, pin, unpin,
    wait_port,
};
use crate::report::Findings;
use crate::{Cli, Plan, ceilings, peer};

/// What later phases need from the edge.
pub struct Edge {
    /// The event body the load sends.
    pub body: Vec<u8>,
    /// The agent's single-event rate (median).
    pub agent_rate: f64,
}

/// Creates a stream for one contender.
pub async fn bench_stream(js: &async_nats::jetstream::Context, name: &str, subject: &str) {
    let mut config = sendrealm_common::service::events_stream_config(
        &sendrealm_common::config::StreamConfig::default(),
    );
    config.name = name.into();
    config.subjects = vec![subject.into()];
    js.create_stream(config).await.expect("bench stream");
}

/// Messages in the agents' events stream.
async fn events_messages(js: &async_nats::jetstream::Context) -> u64 {
    let name = sendrealm_common::config::StreamConfig::default().name;
    match js.get_stream(name).await {
        Ok(mut stream) => stream.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

/// Runs the edge phases.
/// The peer's line.
const PEER: &str = "mq-bridge 1.2.0 (fire_and_forget false, deduplicate true)";
/// The agent with coalescing off.
const SINGLE_AGENT: &str = "agent POST /events, one message per event (coalescing off)";

pub async fn run(
    cli: &Cli,
    plan: &Plan,
    run_id: &str,
    findings: &mut Findings,
) -> anyhow::Result<Edge> {
    let server_cpu = 0;
    let nats = NatsServer::start();
    let js = nats.jetstream().await;
    let body = event_body(run_id, 0);
    eprintln!("event body: {} bytes", body.len());
    bench_stream(&js, "BENCH_RAW", "bench.raw").await;
    let raw = ceilings::jetstream(&js, "bench.raw", &body, plan.raw_messages, None).await?;
    findings.rate(
        "raw JetStream publish (Nats-Msg-Id, 1024 acks in flight)",
        "msg/s",
        raw,
    );
    eprintln!("raw JetStream: {raw:.0} msg/s");
    // The same with a per-message TTL, as every event carries its project's retention.
    let nats_pid = nats.pid();
    let before = cpu_secs(nats_pid);
    let raw_ttl =
        ceilings::jetstream(&js, "bench.raw", &body, plan.raw_messages, Some("7776000")).await?;
    let ttl_us = (cpu_secs(nats_pid) - before) / plan.raw_messages as f64 * 1e6;
    findings.rate("raw JetStream publish, plus Nats-TTL", "msg/s", raw_ttl);
    findings.note(
        "nats-server CPU per raw message with Nats-TTL (µs)",
        format!("{ttl_us:.1}"),
    );
    eprintln!("raw JetStream with TTL: {raw_ttl:.0} msg/s, nats-server {ttl_us:.1} µs/msg");

    // The contenders get a nats-server of their own: the one above now holds the raw
    // lines' messages and, in its duplicate window, their ids (a million or so), and its
    // upkeep of those would be charged to whichever contender runs meanwhile.
    drop(js);
    drop(nats);
    let nats = NatsServer::start();
    let js = nats.jetstream().await;
    let nats_pid = nats.pid();
    // The broker shares the load generator's core: core 0 is the server's under test
    // alone, as an edge host's would be (the broker runs elsewhere in production).
    pin(nats_pid, num_cpus().saturating_sub(1));
    // The three HTTP servers, all pinned to the same core, all running; the load visits
    // them in turn, round after round, so machine noise hits each alike. Medians count.
    bench_stream(&js, "BENCH_NAIVE", "bench.naive").await;
    let naive_addr = free_addr();
    let mut naive = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "--naive-server",
            &nats.url(),
            &naive_addr.to_string(),
            "bench.naive",
        ])
        .kill_on_drop(true)
        .spawn()?;
    wait_port(naive_addr).await?;
    pin(naive.id(), server_cpu);
    let cli_admin = AdminCli::sqlite(&nats);
    let project = cli_admin
        .create_project(
            "bench",
            &[
                "--rate-limit-per-sec",
                "10000000",
                "--rate-limit-burst",
                "10000000",
                "--payload-limit-bytes",
                "65536",
            ],
        )
        .await;
    // One core for the agent, and a single-threaded runtime on it (config worker_threads):
    // that batches its NATS writes into far fewer syscalls.
    let mut agent_env = vec![("SENDREALM_LOG", "warn"), ("SENDREALM_WORKER_THREADS", "1")];
    agent_env.extend(plan.agent_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let agent = Agent::start(&nats, &agent_env).await;
    pin(agent.pid(), server_cpu);
    // The same agent publishing one message per event, as before coalescing: the
    // before/after in one run, on the same core.
    let single_agent = Agent::start(
        &nats,
        &[
            ("SENDREALM_LOG", "warn"),
            ("SENDREALM_WORKER_THREADS", "1"),
            ("SENDREALM_PUBLISH__COALESCE", "false"),
        ],
    )
    .await;
    pin(single_agent.pid(), server_cpu);
    let single_addr = addr_of(&single_agent.url);
    let auth = vec![(
        "Authorization".to_owned(),
        format!("Bearer {}", project.key),
    )];
    let agent_addr = addr_of(&agent.url);
    let peer = if cli.no_peer {
        None
    } else {
        bench_stream(&js, "PEER", "peer.>").await;
        match peer::start(&nats.url(), "PEER", "peer.events").await {
            Ok(peer) => {
                pin(peer.pid(), server_cpu);
                Some(peer)
            }
            Err(error) => {
                findings.note("mq-bridge", format!("not run: {error}"));
                None
            }
        }
    };
    let mut contenders: Vec<(&str, Target, Option<u32>, Vec<Measured>)> = vec![
        (
            "naive warp + awaited JetStream publish",
            Target {
                addr: naive_addr,
                path: "/events".into(),
                headers: vec![],
                body: single_body(format!("{run_id}n")),
                id_header: None,
                round: 0,
            },
            naive.id(),
            Vec::new(),
        ),
        (
            "agent POST /events (all checks on)",
            Target {
                addr: agent_addr,
                path: "/events".into(),
                headers: auth.clone(),
                body: single_body(format!("{run_id}a")),
                id_header: None,
                round: 0,
            },
            agent.pid(),
            Vec::new(),
        ),
    ];
    contenders.push((
        SINGLE_AGENT,
        Target {
            addr: single_addr,
            path: "/events".into(),
            headers: auth.clone(),
            body: single_body(format!("{run_id}o")),
            id_header: None,
            round: 0,
        },
        single_agent.pid(),
        Vec::new(),
    ));
    if let Some(peer) = &peer {
        contenders.push((
            PEER,
            Target {
                addr: peer.addr,
                path: peer.path.clone(),
                headers: vec![],
                body: single_body(format!("{run_id}p")),
                id_header: Some(peer::ID_HEADER),
                round: 0,
            },
            peer.pid(),
            Vec::new(),
        ));
    }
    for round in 0..plan.rounds {
        for (name, target, pid, results) in contenders.iter_mut() {
            // Fresh idempotency keys (and peer message ids) every round: a key seen in an
            // earlier round would be a replay, answered from JetStream's dedupe.
            let mut target = target.clone();
            target.body = single_body(format!("{run_id}r{round}{}", &name[..2]));
            target.round = round as u64;
            let before = (cpu_secs(*pid), cpu_secs(nats_pid));
            // Both agents publish to the events stream, one round at a time.
            let agent = name.starts_with("agent");
            let messages_before = if agent { events_messages(&js).await } else { 0 };
            let outcome = closed(&target, plan.connections, plan).await?;
            let requests = outcome.ok.max(1) as f64;
            let server_us = (cpu_secs(*pid) - before.0) / requests * 1e6;
            let nats_us = (cpu_secs(nats_pid) - before.1) / requests * 1e6;
            // Counted over warmup and measurement alike: every request of the round.
            let per_message = if agent {
                let messages = events_messages(&js).await.saturating_sub(messages_before);
                Some(outcome.sent as f64 / messages.max(1) as f64)
            } else {
                None
            };
            eprintln!(
                "round {round}: {name}: {:.0} req/s, {server_us:.1} µs CPU/request (+{nats_us:.1} nats-server), {:.1} events per message",
                outcome.rate(),
                per_message.unwrap_or(1.0)
            );
            results.push(Measured {
                outcome,
                server_us,
                nats_us,
                per_message,
            });
        }
    }
    let mut medians = Vec::new();
    for (name, _, _, results) in &mut contenders {
        results.sort_by(|a, b| a.outcome.rate().total_cmp(&b.outcome.rate()));
        let median = &results[results.len() / 2];
        findings.measured(
            &format!("{name} [median of {}]", results.len()),
            "req/s",
            &median.outcome,
            1.0,
        );
        findings.note(
            format!("{name}: CPU per request, server / nats-server (µs)"),
            format!("{:.1} / {:.1}", median.server_us, median.nats_us),
        );
        if let Some(per_message) = median.per_message {
            findings.note(
                format!("{name}: events per stream message"),
                format!("{per_message:.1}"),
            );
        }
        medians.push(median.outcome.rate());
    }
    let rate_of = |name: &str| {
        contenders
            .iter()
            .zip(&medians)
            .find(|((n, ..), _)| *n == name)
            .map(|(_, rate)| *rate)
    };
    let (naive_rate, agent_rate) = (medians[0], medians[1]);
    findings.at_least(
        "agent / naive (single events)",
        agent_rate / naive_rate,
        1.5,
    );
    if let Some(peer_rate) = rate_of(PEER) {
        findings.at_least(
            "agent / mq-bridge (single events)",
            agent_rate / peer_rate,
            1.5,
        );
    }
    if let Some(single_rate) = rate_of(SINGLE_AGENT) {
        findings.note(
            "agent coalescing / one message per event (single events)",
            format!("{:.2}", agent_rate / single_rate),
        );
    }
    drop(peer);
    naive.kill().await.ok();
    // Batches are compared with the raw JetStream line, measured with the broker free to
    // use both cores.
    unpin(nats_pid);

    let batch = Target {
        addr: agent_addr,
        path: "/events/batch".into(),
        headers: auth.clone(),
        body: batch_body(format!("{run_id}b"), plan.batch_size),
        id_header: None,
        round: 0,
    };
    let agent_batch = closed(&batch, plan.batch_connections, plan).await?;
    let batch_rate = agent_batch.rate() * plan.batch_size as f64;
    findings.measured(
        &format!("agent POST /events/batch ({} per batch)", plan.batch_size),
        "events/s",
        &agent_batch,
        plan.batch_size as f64,
    );
    eprintln!("agent batch: {batch_rate:.0} events/s");
    findings.at_least(
        "agent batch events/s / raw JetStream",
        batch_rate / raw,
        1.0,
    );

    // Half of the single-event maximum, open loop, on this server: it holds the message
    // ids of every phase so far in its duplicate window (millions). Reported for
    // comparison; the latency targets are measured on a fresh server (crate::latency).
    let half = Target {
        addr: agent_addr,
        path: "/events".into(),
        headers: auth.clone(),
        body: single_body(format!("{run_id}h")),
        id_header: None,
        round: 0,
    };
    let half_rate = (agent_rate / 2.0).max(10.0);
    let at_half = open(&half, half_rate, plan.connections, plan).await?;
    findings.measured(
        &format!("agent at half of max ({half_rate:.0}/s, open loop), on the server of all phases"),
        "req/s",
        &at_half,
        1.0,
    );
    let rss = peak_rss_mb(agent.pid()).unwrap_or(0.0);
    findings.note("agent peak RSS (MB)", format!("{rss:.1}"));
    findings.at_most("agent peak RSS (MB)", rss, 64.0);
    agent.stop();
    single_agent.stop();
    drop(nats);
    Ok(Edge { body, agent_rate })
}
