//! A small HTTP/1.1 load generator: keep-alive connections, fixed concurrency (closed
//! loop) or a fixed rate (open loop), latencies in an HDR histogram.
//!
//! It writes prepared request bytes and parses only the status line, `Content-Length` and
//! chunked framing: the least work per request, so it takes little CPU from the system
//! under test on a small machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Appends the body of request number `n` to the buffer.
pub type BodyFn = Arc<dyn Fn(u64, &mut Vec<u8>) + Send + Sync>;

/// Where and what to send.
#[derive(Clone)]
pub struct Target {
    /// Server address.
    pub addr: SocketAddr,
    /// Request path.
    pub path: String,
    /// Extra headers (`Authorization`, …).
    pub headers: Vec<(String, String)>,
    /// Body of request `n`.
    pub body: BodyFn,
    /// A header carrying a unique id per request (for a peer that takes its dedupe id
    /// from a header instead of the body).
    pub id_header: Option<&'static str>,
    /// Part of that id, so each measured round sends ids of its own.
    pub round: u64,
}

/// What a run measured.
pub struct Outcome {
    /// Requests answered 2xx.
    pub ok: u64,
    /// Requests answered 2xx, the warmup's included.
    pub sent: u64,
    /// Requests answered otherwise (or failed).
    pub failed: u64,
    /// Wall time of the measured part.
    pub elapsed: Duration,
    /// Latency of 2xx answers, microseconds.
    pub latency: Histogram<u64>,
    /// Status of the first non-2xx answer, for the report.
    pub first_failure: Option<String>,
}

impl Outcome {
    /// 2xx answers per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Builds requests into buffers reused for the whole run: the fixed head is written
/// once, so a request costs the load generator a few copies and no allocation.
struct Requests {
    target: Target,
    /// Request line and the target's headers.
    head: Vec<u8>,
    body: Vec<u8>,
    out: Vec<u8>,
}

impl Requests {
    fn new(target: &Target) -> Self {
        let mut head = format!("POST {} HTTP/1.1\r\nHost: bench\r\n", target.path).into_bytes();
        for (name, value) in &target.headers {
            head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        Requests {
            target: target.clone(),
            head,
            body: Vec::with_capacity(64 * 1024),
            out: Vec::with_capacity(64 * 1024),
        }
    }

    /// Request number `n`.
    fn build(&mut self, n: u64) -> &[u8] {
        use std::io::Write as _;
        self.body.clear();
        (self.target.body)(n, &mut self.body);
        self.out.clear();
        self.out.extend_from_slice(&self.head);
        // Writing into a Vec cannot fail.
        if let Some(name) = self.target.id_header {
            // A UUID-shaped id, unique per run, round and request.
            let run = (std::process::id() as u64) << 32 | self.target.round;
            let _ = write!(self.out, "{name}: {run:016x}{n:016x}\r\n");
        }
        let _ = write!(
            self.out,
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.body.len()
        );
        self.out.extend_from_slice(&self.body);
        &self.out
    }
}

/// One keep-alive connection.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(16 * 1024),
        })
    }

    /// Sends a request and reads the whole answer; returns the status.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        self.buffer.clear();
        let header_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end + 4;
            }
            self.fill().await?;
        };
        let head = &self.buffer[..header_end];
        let status: u16 = std::str::from_utf8(head.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let header = |name: &[u8]| {
            head.split(|b| *b == b'\n').find_map(|line| {
                let (key, value) = line.split_at(line.iter().position(|b| *b == b':')?);
                key.eq_ignore_ascii_case(name)
                    .then(|| value[1..].trim_ascii())
            })
        };
        if let Some(len) = header(b"content-length")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<usize>().ok())
        {
            while self.buffer.len() < header_end + len {
                self.fill().await?;
            }
        } else if header(b"transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked")) {
            while find(&self.buffer[header_end..], b"0\r\n\r\n").is_none() {
                self.fill().await?;
            }
        }
        Ok(status)
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        // Straight into the buffer's spare room: no zeroed scratch array, no copy.
        self.buffer.reserve(8192);
        let n = self.stream.read_buf(&mut self.buffer).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds")
}

/// Keeps `connections` requests in flight for `duration` (after `warmup`).
pub async fn closed_loop(
    target: &Target,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let target = target.clone();
        let counter = Arc::clone(&counter);
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(target.addr).await?;
            let mut requests = Requests::new(&target);
            let mut latency = histogram();
            let (mut ok, mut failed, mut first_failure) = (0u64, 0u64, None);
            let mut all_ok = 0u64;
            loop {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let request = requests.build(n);
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let status = match connection.exchange(request).await {
                    Ok(status) => status,
                    Err(error) => {
                        first_failure.get_or_insert(error.to_string());
                        connection = Connection::open(target.addr).await?;
                        0
                    }
                };
                if (200..300).contains(&status) {
                    all_ok += 1;
                }
                if sent < measure_from {
                    continue;
                }
                if (200..300).contains(&status) {
                    ok += 1;
                    let _ = latency.record(sent.elapsed().as_micros() as u64);
                } else {
                    failed += 1;
                    first_failure.get_or_insert(format!("HTTP {status}"));
                }
            }
            anyhow::Ok((ok, all_ok, failed, latency, first_failure))
        }));
    }
    merge(tasks, duration).await
}

/// Sends `rate` requests per second for `warmup + duration` over `connections`
/// connections, timing each from when it was due (so a stall shows as latency, not as
/// fewer requests). Latency is recorded after the warmup only (a fresh server's first
/// moments, as in the closed-loop phases); every request counts as accepted or failed.
pub async fn open_loop(
    target: &Target,
    rate: f64,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let total = (rate * (warmup + duration).as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let start = Instant::now() + Duration::from_millis(50);
    let measured_from = start + warmup;
    let mut tasks = Vec::new();
    for c in 0..connections as u64 {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(target.addr).await?;
            let mut requests = Requests::new(&target);
            let mut latency = histogram();
            let (mut ok, mut failed, mut first_failure) = (0u64, 0u64, None);
            let mut all_ok = 0u64;
            let offset = interval.mul_f64(c as f64 / connections as f64);
            let mut i = 0u64;
            loop {
                let n = i * connections as u64 + c;
                if n >= total {
                    break;
                }
                let due = start + offset + interval.mul_f64(i as f64);
                tokio::time::sleep_until(due.into()).await;
                let request = requests.build(n);
                match connection.exchange(request).await {
                    Ok(status) if (200..300).contains(&status) => {
                        ok += 1;
                        all_ok += 1;
                        if due >= measured_from {
                            let _ = latency.record(due.elapsed().as_micros() as u64);
                        }
                    }
                    Ok(status) => {
                        failed += 1;
                        first_failure.get_or_insert(format!("HTTP {status}"));
                    }
                    Err(error) => {
                        failed += 1;
                        first_failure.get_or_insert(error.to_string());
                        connection = Connection::open(target.addr).await?;
                    }
                }
                i += 1;
            }
            anyhow::Ok((ok, all_ok, failed, latency, first_failure))
        }));
    }
    merge(tasks, warmup + duration).await
}

type TaskResult = anyhow::Result<(u64, u64, u64, Histogram<u64>, Option<String>)>;

async fn merge(
    tasks: Vec<tokio::task::JoinHandle<TaskResult>>,
    elapsed: Duration,
) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome {
        ok: 0,
        sent: 0,
        failed: 0,
        elapsed,
        latency: histogram(),
        first_failure: None,
    };
    for task in tasks {
        let (ok, all_ok, failed, latency, failure) = task.await??;
        outcome.ok += ok;
        outcome.sent += all_ok;
        outcome.failed += failed;
        outcome.latency.add(&latency)?;
        if outcome.first_failure.is_none() {
            outcome.first_failure = failure;
        }
    }
    Ok(outcome)
}
