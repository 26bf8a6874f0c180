//! `sendrealm-bench`: measures, in one run on this machine, the raw JetStream and database
//! ceilings, a naive HTTP→JetStream server, the agent (single events and batches), a peer
//! (mq-bridge), and the aggregator draining into SQLite and PostgreSQL; prints ratios and
//! writes the table under `bench/results/`.
#![allow(clippy::unwrap_used)] // A benchmark driver: a failed step should stop the run loudly.

//!
//! Layout, by phase: [`edge`] (raw JetStream, the agent, a naive server, the peer),
//! [`drain`] (database ceilings and the aggregator's drain), [`pipeline`] (end to end);
//! [`ceilings`], [`loadgen`], [`measure`], [`bodies`], [`report`] serve them.

mod bodies;
mod ceilings;
mod drain;
mod edge;
mod latency;
mod loadgen;
mod measure;
mod naive;
mod peer;
mod pipeline;
mod regions;
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use sendrealm_common::event::Timestamp;
use sendrealm_e2e::postgres::PgDatabase;

use bodies::{batch_body, single_body};
use loadgen::Target;
use measure::{addr_of, closed, num_cpus, open};
use report::{Findings, Report};

#[derive(Parser)]
#[command(about = "Benchmark the Sendrealm pipeline against this machine's ceilings and a peer")]
pub struct Cli {
    /// Short phases (finishes in under 3 minutes).
    #[arg(long)]
    quick: bool,
    /// Tiny sizes to check the benchmark itself runs (used by the test suite).
    #[arg(long)]
    smoke: bool,
    /// Skip the mq-bridge peer.
    #[arg(long)]
    no_peer: bool,
    /// Where to write results.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Only send load to a running agent (e.g. while profiling it): URL and API key.
    #[arg(long, num_args = 2, value_names = ["URL", "KEY"])]
    load: Option<Vec<String>>,
    /// With --load: events per request (1 = POST /events).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// With --load: seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// With --load: requests per second, sent on a schedule (open loop; latency counted
    /// from when each was due) instead of as fast as answers come
    #[arg(long)]
    rate: Option<f64>,
    /// With --load: connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Only measure the aggregator draining N pre-filled events into `sqlite` or `postgres`
    /// (e.g. while profiling it).
    #[arg(long, value_name = "BACKEND")]
    drain_only: Option<String>,
    /// With `--drain-only`: this many waits are open for the drained event name.
    #[arg(long, default_value_t = 0)]
    open_waits: usize,
    /// Only run agent and aggregator (SQLite) together at this many events/s and print
    /// where the time goes (e.g. while tuning the aggregator).
    #[arg(long, value_name = "RATE")]
    pipeline_only: Option<f64>,
    /// Only measure the agent in a region: on a leaf node whose stream a hub sources.
    #[arg(long)]
    regions_only: bool,
    /// A setting for the agents measured (not the one-message-per-event agent's
    /// coalescing), `KEY=VALUE` (e.g. `SENDREALM_PUBLISH__BUNDLES_IN_FLIGHT=4`); repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    agent_env: Vec<String>,
    /// A setting for every aggregator started, `KEY=VALUE` (e.g.
    /// `SENDREALM_CONSUMER__CONCURRENCY=1`); repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    aggregator_env: Vec<String>,
    /// A directory holding an earlier release's `sendrealm-aggregator` (and its admin
    /// CLI): its drain is measured in the same run, for a before/after.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
    /// Internal: run the naive server (started by the benchmark itself).
    #[arg(long, hide = true, num_args = 3, value_names = ["NATS", "LISTEN", "SUBJECT"])]
    naive_server: Option<Vec<String>>,
}

/// Sizes and durations of one mode.
pub struct Plan {
    pub mode: &'static str,
    pub warmup: Duration,
    pub phase: Duration,
    pub raw_messages: u64,
    pub drain_events: u64,
    pub connections: usize,
    pub batch_connections: usize,
    pub rounds: usize,
    /// Bisection steps finding the pipeline's max with agent and aggregator together.
    pub probes: usize,
    pub batch_size: usize,
    /// Extra `SENDREALM_*` settings for every aggregator started.
    pub aggregator_env: Vec<(String, String)>,
    /// Extra `SENDREALM_*` settings for the agents measured.
    pub agent_env: Vec<(String, String)>,
}

impl Plan {
    /// The aggregator's settings: quiet logs, then `--aggregator-env`.
    pub fn aggregator_settings(&self) -> Vec<(&str, &str)> {
        let mut settings = vec![("SENDREALM_LOG", "warn")];
        settings.extend(
            self.aggregator_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        settings
    }
}

impl Plan {
    fn of(cli: &Cli) -> Plan {
        if cli.smoke {
            Plan {
                mode: "smoke",
                warmup: Duration::from_millis(200),
                phase: Duration::from_secs(1),
                raw_messages: 2_000,
                drain_events: 1_000,
                connections: 8,
                batch_connections: 2,
                rounds: 1,
                probes: 1,
                batch_size: 50,
                aggregator_env: pairs(&cli.aggregator_env),
                agent_env: pairs(&cli.agent_env),
            }
        } else if cli.quick {
            Plan {
                mode: "quick",
                warmup: Duration::from_secs(1),
                phase: Duration::from_secs(4),
                raw_messages: 100_000,
                drain_events: 30_000,
                connections: 64,
                batch_connections: 4,
                rounds: 3,
                probes: 3,
                batch_size: 100,
                aggregator_env: pairs(&cli.aggregator_env),
                agent_env: pairs(&cli.agent_env),
            }
        } else {
            Plan {
                mode: "full",
                warmup: Duration::from_secs(2),
                phase: Duration::from_secs(10),
                raw_messages: 300_000,
                drain_events: 100_000,
                connections: 64,
                batch_connections: 4,
                rounds: 5,
                probes: 5,
                batch_size: 100,
                aggregator_env: pairs(&cli.aggregator_env),
                agent_env: pairs(&cli.agent_env),
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(args) = &cli.naive_server {
        let runtime = tokio::runtime::Runtime::new()?;
        return runtime.block_on(naive::serve(&args[0], &args[1], args[2].clone()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    if let Some(load) = &cli.load {
        return runtime.block_on(load_only(&load[0], &load[1], &cli));
    }
    if let Some(backend) = &cli.drain_only {
        let plan = Plan::of(&cli);
        return runtime.block_on(async {
            let drained = if backend == "postgres" {
                drain::drain(&plan, Some(&PgDatabase::require().await), &[], true, cli.open_waits).await?
            } else {
                drain::drain(&plan, None, &[], true, cli.open_waits).await?
            };
            println!(
                "aggregator drained {} events into {backend} with {} open waits: {:.0} events/s, CPU per event {:.1} µs (nats-server {:.1})",
                plan.drain_events, cli.open_waits, drained.rate, drained.cpu_us.0, drained.cpu_us.1
            );
            Ok(())
        });
    }
    if let Some(rate) = cli.pipeline_only {
        let plan = Plan::of(&cli);
        return runtime.block_on(async {
            let (latencies, load) = pipeline::end_to_end_phase(&plan, rate, "only").await?;
            println!(
                "{:.0} req/s sent (p99 {:.1} ms at the agent); {latencies:?}",
                load.rate(),
                load.ms(0.99)
            );
            Ok(())
        });
    }
    if cli.regions_only {
        return runtime.block_on(async {
            let plan = Plan::of(&cli);
            let started = Instant::now();
            let mut findings = Findings::default();
            let run_id = uuid::Uuid::now_v7().simple().to_string()[..8].to_owned();
            regions::run(&plan, &run_id, &mut findings).await?;
            let plan = Plan {
                mode: "regions",
                ..plan
            };
            finish(&cli, &plan, started, findings)
        });
    }
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let plan = Plan::of(&cli);
    let started = Instant::now();
    let mut findings = Findings::default();
    let run_id = uuid::Uuid::now_v7().simple().to_string()[..8].to_owned();

    let edge = edge::run(&cli, &plan, &run_id, &mut findings).await?;
    let agent_env: Vec<(&str, &str)> = plan
        .agent_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    latency::run(&plan, &run_id, edge.agent_rate, &agent_env, &mut findings).await?;
    let sqlite_drain = drain::run(&plan, &edge.body, cli.baseline.as_ref(), &mut findings).await?;

    // End to end (202 → committed) at half of the pipeline's maximum, measured with agent
    // and aggregator (SQLite) running together: the slower of the two alone is the bound.
    let alone = edge.agent_rate.min(sqlite_drain);
    let pipeline_max = pipeline::sustained_max(&plan, alone, plan.probes, &run_id).await?;
    findings.rate(
        "pipeline max, agent and aggregator (SQLite) together (highest sustained open-loop rate)",
        "events/s",
        pipeline_max,
    );
    findings.note(
        "pipeline max together / the slower of agent and aggregator alone",
        format!("{:.2}", pipeline_max / alone),
    );
    let e2e_rate = (pipeline_max / 2.0).max(10.0);
    let (e2e, e2e_load) = pipeline::end_to_end_phase(&plan, e2e_rate, &run_id).await?;
    findings.measured(
        &format!("pipeline at half of its max ({e2e_rate:.0}/s), agent side"),
        "req/s",
        &e2e_load,
        1.0,
    );
    for (what, (p50, p99)) in [
        ("end-to-end (202 → committed)", e2e.end_to_end),
        ("queue lag (received → pulled)", e2e.queue_lag),
        ("processing (pulled → committed)", e2e.processing),
        ("a batch's write transaction", e2e.transaction),
    ] {
        findings.note(
            format!("{what} at half of the pipeline max, p50 / p99 ms"),
            format!("{p50:.1} / {p99:.1}"),
        );
    }
    findings.note(
        "messages per pulled batch at half of the pipeline max (mean)",
        format!("{:.0}", e2e.batch_mean),
    );
    findings.note(
        "every accepted event committed, after the load at half of the pipeline max (s)",
        e2e.catch_up
            .map_or("not within a minute".to_owned(), |s| format!("{s:.2}")),
    );
    findings.at_most(
        "end-to-end p99 at half of max, SQLite (ms)",
        e2e.end_to_end.1,
        50.0,
    );

    finish(&cli, &plan, started, findings)
}

/// Prints the report, and writes it unless this is a smoke run.
fn finish(cli: &Cli, plan: &Plan, started: Instant, mut findings: Findings) -> anyhow::Result<()> {
    findings.note(
        "duration",
        format!("{:.0} s", started.elapsed().as_secs_f64()),
    );
    let report = Report {
        at: Timestamp::now().to_rfc3339(),
        mode: plan.mode.into(),
        cores: num_cpus(),
        versions: versions(),
        lines: findings.lines,
        ratios: findings.ratios,
        notes: findings.notes,
    };
    println!("{}", report.markdown());
    if !cli.smoke {
        report.write(&cli.out, !cli.regions_only)?;
        eprintln!("written to {}", cli.out.display());
    }
    Ok(())
}

/// Sends load to a running agent and prints what it measured.
async fn load_only(url: &str, key: &str, cli: &Cli) -> anyhow::Result<()> {
    let run = uuid::Uuid::now_v7().simple().to_string()[..8].to_owned();
    let (path, body) = if cli.batch > 1 {
        ("/events/batch", batch_body(run, cli.batch))
    } else {
        ("/events", single_body(run))
    };
    let target = Target {
        addr: addr_of(url),
        path: path.into(),
        headers: vec![("Authorization".into(), format!("Bearer {key}"))],
        body,
        id_header: None,
        round: 0,
    };
    let plan = Plan {
        phase: Duration::from_secs(cli.seconds),
        warmup: Duration::from_secs(1),
        ..Plan::of(cli)
    };
    let outcome = match cli.rate {
        Some(rate) => open(&target, rate, cli.connections, &plan).await?,
        None => closed(&target, cli.connections, &plan).await?,
    };
    println!(
        "{:.0} req/s ({:.0} events/s), p50 {:.2} ms, p99 {:.2} ms, failed {} {:?}",
        outcome.rate(),
        outcome.rate() * cli.batch as f64,
        outcome.ms(0.5),
        outcome.ms(0.99),
        outcome.failed,
        outcome.first_failure
    );
    Ok(())
}

fn versions() -> Vec<(String, String)> {
    let nats = std::process::Command::new(sendrealm_e2e::nats::server_binary())
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    vec![
        ("sendrealm".into(), env!("CARGO_PKG_VERSION").into()),
        (
            "nats-server".into(),
            nats.trim_start_matches("nats-server: ").into(),
        ),
        ("async-nats".into(), "0.51".into()),
        ("mq-bridge".into(), "1.2.0".into()),
    ]
}

/// Parses `--aggregator-env KEY=VALUE` pairs.
/// `KEY=VALUE` arguments as pairs.
fn pairs(args: &[String]) -> Vec<(String, String)> {
    args.iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}
