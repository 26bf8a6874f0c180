//! Measuring processes: CPU pinning, the load core, CPU time and memory of a process.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Plan;
use crate::ceilings;
use crate::loadgen::{self, Outcome, Target};

/// Pins every thread of a process to one CPU (when there are at least two), so the load
/// generator does not steal the server's core. Threads it starts later inherit the pin
/// from the thread that starts them.
pub fn pin(pid: Option<u32>, cpu: usize) {
    pin_to(pid, &[cpu]);
}

/// Lets every thread of a process run on any CPU again.
pub fn unpin(pid: Option<u32>) {
    pin_to(pid, &(0..num_cpus()).collect::<Vec<_>>());
}

/// Pins every thread of a process to a set of CPUs (when there are at least two).
fn pin_to(pid: Option<u32>, cpus: &[usize]) {
    if num_cpus() < 2 {
        return;
    }
    let Some(pid) = pid else {
        return;
    };
    let mut set = nix::sched::CpuSet::new();
    if cpus.iter().any(|cpu| set.set(*cpu).is_err()) {
        return;
    }
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten();
    let mut pinned = 0;
    for task in tasks {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        match nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(tid), &set) {
            Ok(()) => pinned += 1,
            Err(error) => eprintln!("cannot pin thread {tid} of {pid} to CPUs {cpus:?}: {error}"),
        }
    }
    if pinned == 0 {
        eprintln!("warning: process {pid} was not pinned to CPUs {cpus:?}");
    }
}

/// Runs a load phase on its own thread, pinned to the last core, with its own runtime:
/// the servers keep the other cores, and processes started later do not inherit the pin.
pub async fn on_load_core<F, Fut, T>(phase: F) -> T
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

/// A closed-loop phase on the load core.
pub async fn closed(target: &Target, connections: usize, plan: &Plan) -> anyhow::Result<Outcome> {
    let (target, warmup, phase) = (target.clone(), plan.warmup, plan.phase);
    on_load_core(
        move || async move { loadgen::closed_loop(&target, connections, warmup, phase).await },
    )
    .await
}

/// An open-loop phase at `rate` on the load core.
pub async fn open(
    target: &Target,
    rate: f64,
    connections: usize,
    plan: &Plan,
) -> anyhow::Result<Outcome> {
    let (target, warmup, phase) = (target.clone(), plan.warmup, plan.phase);
    on_load_core(move || async move {
        loadgen::open_loop(&target, rate, connections, warmup, phase).await
    })
    .await
}

/// CPUs this process may use.
pub fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// One contender's round: what the load saw, and CPU per request.
pub struct Measured {
    /// What the load generator saw.
    pub outcome: Outcome,
    /// Server CPU per request, µs.
    pub server_us: f64,
    /// nats-server CPU per request, µs.
    pub nats_us: f64,
    /// Events per message in the stream (`None` where not counted).
    pub per_message: Option<f64>,
}

/// CPU time (user + system, all threads) a process has used, in seconds.
pub fn cpu_secs(pid: Option<u32>) -> f64 {
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
pub fn peak_rss_mb(pid: Option<u32>) -> Option<f64> {
    sendrealm_e2e::process::rss_mb(pid).map(|(_, peak)| peak)
}

/// The socket address of an `http://` URL.
pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("socket address")
}

/// A free loopback port.
pub fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    listener.local_addr().expect("address")
}

/// Waits until something listens on `addr`.
pub async fn wait_port(addr: SocketAddr) -> anyhow::Result<()> {
    ceilings::wait_until(Duration::from_secs(30), || async move {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    })
    .await
}
