//! `sendrealm-bench`: measures, in one run on this machine, the raw JetStream and database
//! ceilings, a naive HTTP→JetStream server, the agent (single events and batches), a peer
//! (mq-bridge), and the aggregator draining into SQLite and PostgreSQL; prints ratios and
//! writes the table under `bench/results/`.
#![allow(clippy::unwrap_used)] // A benchmark driver: a failed step should stop the run loudly.

mod ceilings;
mod loadgen;
mod naive;
mod peer;
mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use sendrealm_common::event::{Event, EventObject, Source, Timestamp};
use sendrealm_common::subjects::{DEFAULT_STREAM, DEFAULT_SUBJECT_PREFIX, event_subject};
use sendrealm_e2e::agent::Agent;
use sendrealm_e2e::aggregator::{AdminCli, Aggregator};
use sendrealm_e2e::nats::NatsServer;
use sendrealm_e2e::postgres::PgDatabase;

use loadgen::{BodyFn, Outcome, Target};
use report::{Line, Ratio, Report};

#[derive(Parser)]
#[command(about = "Benchmark the Sendrealm pipeline against this machine's ceilings and a peer")]
struct Cli {
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
    /// With --load: connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Only measure the aggregator draining N pre-filled events into `sqlite` or `postgres`
    /// (e.g. while profiling it).
    #[arg(long, value_name = "BACKEND")]
    drain_only: Option<String>,
    /// Internal: run the naive server (started by the benchmark itself).
    #[arg(long, hide = true, num_args = 3, value_names = ["NATS", "LISTEN", "SUBJECT"])]
    naive_server: Option<Vec<String>>,
}

/// Sizes and durations of one mode.
struct Plan {
    mode: &'static str,
    warmup: Duration,
    phase: Duration,
    raw_messages: u64,
    drain_events: u64,
    connections: usize,
    batch_connections: usize,
    rounds: usize,
    batch_size: usize,
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
                batch_size: 50,
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
                batch_size: 100,
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
                batch_size: 100,
            }
        }
    }
}

/// The benchmark's event body: about 400 bytes, unique idempotency key per request.
fn event_body(run: &str, n: u64) -> Vec<u8> {
    format!(
        r#"{{"event":"order.completed","email":"user{}@example.com","payload":{{"order_id":"ord_{n}","amount":4900,"currency":"USD","items":[{{"sku":"sku_1","qty":2}},{{"sku":"sku_2","qty":1}}],"note":"{}"}},"occurred_at":"2026-06-08T14:15:00.000Z","idempotency_key":"bench-{run}-{n}"}}"#,
        n % 1000,
        "x".repeat(120)
    )
    .into_bytes()
}

fn single_body(run: String) -> BodyFn {
    Arc::new(move |n| event_body(&run, n))
}

fn batch_body(run: String, size: usize) -> BodyFn {
    Arc::new(move |n| {
        let mut body = b"{\"events\":[".to_vec();
        for i in 0..size as u64 {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&event_body(&run, n * size as u64 + i));
        }
        body.extend_from_slice(b"]}");
        body
    })
}

fn line(what: &str, unit: &'static str, outcome: &Outcome, per_request: f64) -> Line {
    Line {
        what: what.into(),
        rate: outcome.rate() * per_request,
        unit,
        p50_ms: Some(outcome.ms(0.5)),
        p99_ms: Some(outcome.ms(0.99)),
        p999_ms: Some(outcome.ms(0.999)),
        failed: outcome.failed,
    }
}

fn rate_line(what: &str, unit: &'static str, rate: f64) -> Line {
    Line {
        what: what.into(),
        rate,
        unit,
        p50_ms: None,
        p99_ms: None,
        p999_ms: None,
        failed: 0,
    }
}

fn ratio(what: &str, value: f64, target: f64) -> Ratio {
    Ratio {
        what: what.into(),
        value,
        target: format!(">= {target}"),
        met: value >= target,
    }
}

/// Pins every thread of a process to one CPU (when there are at least two), so the load
/// generator does not steal the server's core.
fn pin(pid: Option<u32>, cpu: usize) {
    if num_cpus() < 2 {
        return;
    }
    if let Some(pid) = pid {
        let _ = std::process::Command::new("taskset")
            .args(["-a", "-c", &cpu.to_string(), "-p", &pid.to_string()])
            .output();
    }
}

/// Runs a load phase on its own thread, pinned to the last core, with its own runtime:
/// the servers keep the other cores, and processes started later do not inherit the pin.
async fn on_load_core<F, Fut, T>(phase: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let cpus = num_cpus();
    let thread = std::thread::spawn(move || {
        if cpus >= 2 {
            let mut set = nix::sched::CpuSet::new();
            if set.set(cpus - 1).is_ok() {
                let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("load runtime");
        runtime.block_on(phase())
    });
    tokio::task::spawn_blocking(move || thread.join().expect("load thread"))
        .await
        .expect("load join")
}

async fn closed(target: &Target, connections: usize, plan: &Plan) -> anyhow::Result<Outcome> {
    let (target, warmup, phase) = (target.clone(), plan.warmup, plan.phase);
    on_load_core(
        move || async move { loadgen::closed_loop(&target, connections, warmup, phase).await },
    )
    .await
}

async fn open(
    target: &Target,
    rate: f64,
    connections: usize,
    plan: &Plan,
) -> anyhow::Result<Outcome> {
    let (target, phase) = (target.clone(), plan.phase);
    on_load_core(move || async move { loadgen::open_loop(&target, rate, connections, phase).await })
        .await
}

fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// One contender's round: what the load saw, and CPU per request.
struct Measured {
    outcome: Outcome,
    server_us: f64,
    nats_us: f64,
}

/// CPU time (user + system, all threads) a process has used, in seconds.
fn cpu_secs(pid: Option<u32>) -> f64 {
    let Some(stat) = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
    else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start after ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .split(' ')
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 here; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of a process, MB.
fn peak_rss_mb(pid: Option<u32>) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("socket address")
}

async fn bench_stream(js: &async_nats::jetstream::Context, name: &str, subject: &str) {
    let mut config = sendrealm_common::service::events_stream_config(
        &sendrealm_common::config::StreamConfig::default(),
    );
    config.name = name.into();
    config.subjects = vec![subject.into()];
    js.create_stream(config).await.expect("bench stream");
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
            let rate = if backend == "postgres" {
                let db = PgDatabase::create()
                    .await
                    .ok_or_else(|| anyhow::anyhow!("PostgreSQL unreachable"))?;
                drain(&plan, Some(&db)).await?
            } else {
                drain(&plan, None).await?
            };
            println!(
                "aggregator drained {} events into {backend}: {rate:.0} events/s",
                plan.drain_events
            );
            Ok(())
        });
    }
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let plan = Plan::of(&cli);
    let started = Instant::now();
    let mut lines = Vec::new();
    let mut ratios = Vec::new();
    let mut notes = Vec::new();
    let run_id = uuid::Uuid::now_v7().simple().to_string()[..8].to_owned();
    let server_cpu = 0;

    // --- Ceilings and the edge, on one nats-server. ---
    let nats = NatsServer::start();
    let js = nats.jetstream().await;
    let body = event_body(&run_id, 0);
    eprintln!("event body: {} bytes", body.len());
    bench_stream(&js, "BENCH_RAW", "bench.raw").await;
    let raw = ceilings::jetstream(&js, "bench.raw", &body, plan.raw_messages, None).await?;
    lines.push(rate_line(
        "raw JetStream publish (Nats-Msg-Id, 1024 acks in flight)",
        "msg/s",
        raw,
    ));
    eprintln!("raw JetStream: {raw:.0} msg/s");
    // The same with a per-message TTL, as every event carries its project's retention.
    let nats_pid = nats.pid();
    let before = cpu_secs(nats_pid);
    let raw_ttl =
        ceilings::jetstream(&js, "bench.raw", &body, plan.raw_messages, Some("7776000")).await?;
    let ttl_us = (cpu_secs(nats_pid) - before) / plan.raw_messages as f64 * 1e6;
    lines.push(rate_line(
        "raw JetStream publish, plus Nats-TTL",
        "msg/s",
        raw_ttl,
    ));
    notes.push((
        "nats-server CPU per raw message with Nats-TTL (µs)".into(),
        format!("{ttl_us:.1}"),
    ));
    eprintln!("raw JetStream with TTL: {raw_ttl:.0} msg/s, nats-server {ttl_us:.1} µs/msg");

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
    let agent = Agent::start(
        &nats,
        &[("SENDREALM_LOG", "warn"), ("SENDREALM_WORKER_THREADS", "1")],
    )
    .await;
    pin(agent.pid(), server_cpu);
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
                notes.push(("mq-bridge".into(), format!("not run: {error}")));
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
    if let Some(peer) = &peer {
        contenders.push((
            "mq-bridge 1.2.0 (fire_and_forget false, deduplicate true)",
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
            let outcome = closed(&target, plan.connections, &plan).await?;
            let requests = outcome.ok.max(1) as f64;
            let server_us = (cpu_secs(*pid) - before.0) / requests * 1e6;
            let nats_us = (cpu_secs(nats_pid) - before.1) / requests * 1e6;
            eprintln!(
                "round {round}: {name}: {:.0} req/s, {server_us:.1} µs CPU/request (+{nats_us:.1} nats-server)",
                outcome.rate()
            );
            results.push(Measured {
                outcome,
                server_us,
                nats_us,
            });
        }
    }
    let mut medians = Vec::new();
    for (name, _, _, results) in &mut contenders {
        results.sort_by(|a, b| a.outcome.rate().total_cmp(&b.outcome.rate()));
        let median = &results[results.len() / 2];
        let mut measured = line(name, "req/s", &median.outcome, 1.0);
        measured.what = format!("{name} [median of {}]", results.len());
        lines.push(measured);
        notes.push((
            format!("{name}: CPU per request, server / nats-server (µs)"),
            format!("{:.1} / {:.1}", median.server_us, median.nats_us),
        ));
        medians.push(median.outcome.rate());
    }
    let (naive_rate, agent_rate) = (medians[0], medians[1]);
    ratios.push(ratio(
        "agent / naive (single events)",
        agent_rate / naive_rate,
        1.25,
    ));
    if let Some(peer_rate) = medians.get(2) {
        ratios.push(ratio(
            "agent / mq-bridge (single events)",
            agent_rate / peer_rate,
            1.0,
        ));
    }
    drop(peer);
    naive.kill().await.ok();

    let batch = Target {
        addr: agent_addr,
        path: "/events/batch".into(),
        headers: auth.clone(),
        body: batch_body(format!("{run_id}b"), plan.batch_size),
        id_header: None,
        round: 0,
    };
    let agent_batch = closed(&batch, plan.batch_connections, &plan).await?;
    let batch_rate = agent_batch.rate() * plan.batch_size as f64;
    lines.push(line(
        &format!("agent POST /events/batch ({} per batch)", plan.batch_size),
        "events/s",
        &agent_batch,
        plan.batch_size as f64,
    ));
    eprintln!("agent batch: {batch_rate:.0} events/s");
    ratios.push(ratio(
        "agent batch events/s / raw JetStream",
        batch_rate / raw,
        0.8,
    ));

    // Half of the single-event maximum, open loop: the agent's latency when not saturated.
    let half = Target {
        addr: agent_addr,
        path: "/events".into(),
        headers: auth.clone(),
        body: single_body(format!("{run_id}h")),
        id_header: None,
        round: 0,
    };
    let half_rate = (agent_rate / 2.0).max(10.0);
    let at_half = open(&half, half_rate, plan.connections, &plan).await?;
    lines.push(line(
        &format!("agent at half of max ({half_rate:.0}/s, open loop)"),
        "req/s",
        &at_half,
        1.0,
    ));
    ratios.push(Ratio {
        what: "agent p99 at half of max (ms)".into(),
        value: at_half.ms(0.99),
        target: "<= 5".into(),
        met: at_half.ms(0.99) <= 5.0,
    });
    let rss = peak_rss_mb(agent.pid()).unwrap_or(0.0);
    notes.push(("agent peak RSS (MB)".into(), format!("{rss:.1}")));
    ratios.push(Ratio {
        what: "agent peak RSS (MB)".into(),
        value: rss,
        target: "<= 64".into(),
        met: rss <= 64.0,
    });
    agent.stop();
    drop(nats);

    // --- Databases: raw ceilings, then the aggregator draining a pre-filled stream. ---
    let request: sendrealm_common::event::EventRequest = serde_json::from_slice(&body)?;
    let payload = request
        .payload
        .map(|p| p.get().to_owned())
        .unwrap_or_default();
    let rows = ceilings::rows(plan.drain_events as usize, "drain", &payload);
    let dir = tempfile::tempdir()?;
    let sqlite_ceiling = ceilings::sqlite(dir.path(), &rows).await?;
    lines.push(rate_line(
        "raw SQLite batched insert (WAL, 500 rows/statement)",
        "rows/s",
        sqlite_ceiling,
    ));
    let sqlite_drain = drain(&plan, None).await?;
    lines.push(rate_line(
        "aggregator draining into SQLite",
        "events/s",
        sqlite_drain,
    ));
    ratios.push(ratio(
        "aggregator / raw insert (SQLite)",
        sqlite_drain / sqlite_ceiling,
        0.5,
    ));
    eprintln!("SQLite: ceiling {sqlite_ceiling:.0} rows/s, aggregator {sqlite_drain:.0} events/s");
    if let Some(ceiling_db) = PgDatabase::create().await {
        let pg_ceiling = ceilings::postgres(&ceiling_db.url, &rows).await?;
        lines.push(rate_line(
            "raw PostgreSQL batched insert (500 rows/statement)",
            "rows/s",
            pg_ceiling,
        ));
        let drain_db = PgDatabase::create().await.expect("second database");
        let pg_drain = drain(&plan, Some(&drain_db)).await?;
        lines.push(rate_line(
            "aggregator draining into PostgreSQL",
            "events/s",
            pg_drain,
        ));
        ratios.push(ratio(
            "aggregator / raw insert (PostgreSQL)",
            pg_drain / pg_ceiling,
            0.5,
        ));
        eprintln!("PostgreSQL: ceiling {pg_ceiling:.0} rows/s, aggregator {pg_drain:.0} events/s");
    } else {
        notes.push(("PostgreSQL".into(), "not reachable; skipped".into()));
    }

    // End to end (202 → committed) at half of the pipeline's maximum: the slower of the
    // agent and the aggregator on SQLite decides what the pipeline sustains.
    let pipeline_max = agent_rate.min(sqlite_drain);
    let e2e_rate = (pipeline_max / 2.0).max(10.0);
    let (e2e, e2e_load) = end_to_end_phase(&plan, e2e_rate, &run_id).await?;
    lines.push(line(
        &format!("pipeline at half of its max ({e2e_rate:.0}/s), agent side"),
        "req/s",
        &e2e_load,
        1.0,
    ));
    notes.push((
        "end-to-end (202 → committed) at half of the pipeline max, p50 / p99 ms".into(),
        format!("{:.1} / {:.1}", e2e.0, e2e.1),
    ));
    ratios.push(Ratio {
        what: "end-to-end p99 at half of max (ms)".into(),
        value: e2e.1,
        target: "<= 100".into(),
        met: e2e.1 <= 100.0,
    });

    notes.push((
        "duration".into(),
        format!("{:.0} s", started.elapsed().as_secs_f64()),
    ));
    let report = Report {
        at: Timestamp::now().to_rfc3339(),
        mode: plan.mode.into(),
        cores: num_cpus(),
        versions: versions(),
        lines,
        ratios,
        notes,
    };
    println!("{}", report.markdown());
    if !cli.smoke {
        report.write(&cli.out)?;
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
    let outcome = closed(&target, cli.connections, &plan).await?;
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

fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    listener.local_addr().expect("address")
}

async fn wait_port(addr: SocketAddr) -> anyhow::Result<()> {
    ceilings::wait_until(Duration::from_secs(30), || async move {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    })
    .await
}

/// Runs agent and aggregator (SQLite) together under an open-loop load; returns the
/// aggregator's end-to-end p50/p99 (ms) and the agent-side outcome.
async fn end_to_end_phase(
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

/// Pre-fills a fresh stream with events of a fresh project, then times an aggregator
/// draining it into SQLite (or the given PostgreSQL database). Events/s.
async fn drain(plan: &Plan, postgres: Option<&PgDatabase>) -> anyhow::Result<f64> {
    let nats = NatsServer::start();
    let cli = match postgres {
        Some(db) => AdminCli::with_database(&nats, &db.url),
        None => AdminCli::sqlite(&nats),
    };
    let project = cli.create_project("drain", &[]).await;
    let js = nats.jetstream().await;
    sendrealm_common::service::ensure_events_stream(
        &js,
        &sendrealm_common::config::StreamConfig::default(),
    )
    .await?;
    let subject = event_subject(DEFAULT_SUBJECT_PREFIX, &project.id, "order.completed");
    let mut inflight = futures::stream::FuturesUnordered::new();
    let now = Timestamp::now();
    for n in 0..plan.drain_events {
        let request: sendrealm_common::event::EventRequest =
            serde_json::from_slice(&event_body("drain", n))?;
        let event = Event {
            id: sendrealm_common::id::event_id_for_key(
                &project.id,
                request.idempotency_key.as_deref().unwrap_or(""),
            ),
            object: EventObject::Event,
            project_id: project.id.clone(),
            event: request.event,
            contact_id: None,
            external_id: None,
            email: request.email,
            payload: request
                .payload
                .unwrap_or_else(sendrealm_common::event::empty_payload),
            occurred_at: now,
            received_at: now,
            idempotency_key: request.idempotency_key,
            source: Source::Api,
            region: "bench".into(),
        };
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(event.to_json().into())
            .message_id(event.msg_id());
        inflight.push(
            js.send_publish(subject.clone(), message)
                .await?
                .into_future(),
        );
        while inflight.len() >= 1024 {
            use futures::StreamExt;
            inflight.next().await.transpose()?;
        }
    }
    {
        use futures::StreamExt;
        while let Some(ack) = inflight.next().await {
            ack?;
        }
    }
    let aggregator = Aggregator::start(&nats, &cli, &[("SENDREALM_LOG", "warn")]).await;
    let stream = js.get_stream(DEFAULT_STREAM).await?;
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer("sendrealm-aggregator")
        .await
        .map_err(|e| anyhow::anyhow!("consumer: {e}"))?;
    let first = consumer.get_info().await?;
    let remaining_at_start = first.num_pending + first.num_ack_pending as u64;
    let t0 = Instant::now();
    ceilings::wait_until(Duration::from_secs(600), || async {
        consumer
            .get_info()
            .await
            .is_ok_and(|i| i.num_pending == 0 && i.num_ack_pending == 0)
    })
    .await?;
    let elapsed = t0.elapsed().as_secs_f64();
    aggregator.stop();
    // System events (contact.created) were published into the stream while draining; the
    // rate counts the pre-filled events only.
    Ok(remaining_at_start.min(plan.drain_events) as f64 / elapsed)
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
