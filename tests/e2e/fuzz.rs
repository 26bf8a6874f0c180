//! A bounded HTTP fuzz of both services: a few thousand seeded random requests (methods,
//! known and mangled paths, credentials, content types, mutated events, random bytes).
//! Every request gets an answer below 500 within the timeout, both services stay ready, and
//! their memory stays bounded. A failure prints the seed and the request that found it;
//! `SENDREALM_FUZZ_SEED` replays a run.

use std::time::Duration;

use futures::StreamExt;
use sendrealm_e2e::aggregator::{ADMIN_TOKEN, UNLIMITED};
use sendrealm_e2e::process::rss_mb;
use sendrealm_e2e::stack::{Database, Pipeline};
use serde_json::{Value, json};

use crate::docs_example;

/// Requests per service.
const REQUESTS: usize = 1500;
/// In flight at once.
const CONCURRENCY: usize = 8;
/// An answer later than this is a hang.
const TIMEOUT: Duration = Duration::from_secs(10);

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One generated request.
#[derive(Debug, Clone)]
struct Probe {
    method: reqwest::Method,
    path: String,
    token: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
const CONTENT_TYPES: [Option<&str>; 5] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    None,
];
const SEGMENTS: [&str; 12] = [
    "%00",
    "..",
    "%2e%2e",
    "x",
    "ü",
    "%ff%fe",
    "00000000-0000-0000-0000-000000000000",
    "order.completed",
    "a%2Fb",
    "'; drop table events; --",
    "%",
    "allow",
];
const QUERIES: [&str; 10] = [
    "",
    "?limit=0",
    "?limit=-1",
    "?limit=99999999999999999999",
    "?after=zzz",
    "?project_id=proj_x",
    "?event=%00",
    "?since=not-a-time",
    "?limit=10&after=00000000-0000-0000-0000-000000000000",
    "?a=1&a=2&a=3",
];

/// A JSON value from nothing: deep, wide, odd numbers, odd strings.
fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.next() as i64),
        3 => json!(f64::from_bits(rng.next()).to_string()),
        4 => json!("x".repeat(rng.below(3000))),
        5 => json!(rng.pick::<&str>(&SEGMENTS)),
        6 => Value::Array((0..rng.below(5)).map(|_| value(rng, depth + 1)).collect()),
        7 => {
            let mut map = serde_json::Map::new();
            for i in 0..rng.below(6) {
                map.insert(format!("k{i}"), value(rng, depth + 1));
            }
            Value::Object(map)
        }
        _ => {
            // Deeper than any limit.
            let levels = 20 + rng.below(60);
            let text = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
            serde_json::from_str(&text).unwrap_or(Value::Null)
        }
    }
}

/// A valid event, then mutated: fields dropped, replaced or added.
fn event(rng: &mut Rng) -> Value {
    let mut event = docs_example();
    event["idempotency_key"] = json!(format!("fz-{}", rng.next()));
    let fields = [
        "event",
        "email",
        "external_id",
        "contact_id",
        "payload",
        "occurred_at",
        "idempotency_key",
        "unknown_field",
    ];
    for _ in 0..rng.below(4) {
        let field = *rng.pick(&fields);
        if rng.chance(40) {
            if let Some(map) = event.as_object_mut() {
                map.remove(field);
            }
        } else {
            event[field] = value(rng, 0);
        }
    }
    event
}

fn body(rng: &mut Rng) -> Vec<u8> {
    let json = match rng.below(6) {
        0 => event(rng),
        1 => json!({"events": (0..rng.below(8)).map(|_| event(rng)).collect::<Vec<_>>()}),
        2 => value(rng, 0),
        3 => {
            json!({"event": "sendrealm.contact.created", "contact": {"email": "a@example.com"}, "payload": value(rng, 1)})
        }
        4 => {
            return (0..rng.below(2000)).map(|_| rng.next() as u8).collect();
        }
        _ => {
            let mut text = event(rng).to_string().into_bytes();
            text.truncate(rng.below(text.len() + 1));
            return text;
        }
    };
    json.to_string().into_bytes()
}

fn probe(rng: &mut Rng, paths: &[&str], tokens: &[Option<String>]) -> Probe {
    let mut path = (*rng.pick(paths)).to_owned();
    while path.contains("{}") {
        path = path.replacen("{}", rng.pick::<&str>(&SEGMENTS), 1);
    }
    if rng.chance(10) {
        path.push('/');
        path.push_str(rng.pick::<&str>(&SEGMENTS));
    }
    if rng.chance(3) {
        path.push_str(&"a/".repeat(2000));
    }
    path.push_str(rng.pick::<&str>(&QUERIES));
    // Mostly the method a route expects and the first (valid) credential, so most
    // requests get past routing and authentication into parsing and validation.
    let body = if rng.chance(70) {
        body(rng)
    } else {
        Vec::new()
    };
    let method = if rng.chance(70) {
        if body.is_empty() { "GET" } else { "POST" }
    } else {
        *rng.pick(&METHODS)
    };
    let token = if rng.chance(60) {
        tokens[0].clone()
    } else {
        rng.pick(tokens).clone()
    };
    let content_type = if rng.chance(60) {
        CONTENT_TYPES[0]
    } else {
        *rng.pick(&CONTENT_TYPES)
    };
    Probe {
        method: method.parse().unwrap_or(reqwest::Method::GET),
        path,
        token,
        content_type,
        body,
    }
}

/// Sends every probe; fails on a 5xx or a hang, naming the seed and the request.
async fn fuzz(service: &str, base: &str, seed: u64, paths: &[&str], tokens: &[Option<String>]) {
    let mut rng = Rng(seed);
    let probes: Vec<Probe> = (0..REQUESTS)
        .map(|_| probe(&mut rng, paths, tokens))
        .collect();
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("HTTP client");
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut answers = futures::stream::iter(probes.into_iter().map(|p| {
        let http = http.clone();
        async move {
            let mut request = http
                .request(p.method.clone(), format!("{base}{}", p.path))
                .body(p.body.clone());
            if let Some(token) = &p.token {
                request = request.bearer_auth(token);
            }
            if let Some(content_type) = p.content_type {
                request = request.header("content-type", content_type);
            }
            (request.send().await.map(|r| r.status().as_u16()), p)
        }
    }))
    .buffer_unordered(CONCURRENCY);
    while let Some((answer, probe)) = answers.next().await {
        let shown = format!(
            "{} {} ({} body bytes)",
            probe.method,
            probe.path.chars().take(200).collect::<String>(),
            probe.body.len()
        );
        let status = answer.unwrap_or_else(|e| {
            panic!("{service}: no answer within {TIMEOUT:?} (seed {seed}) to {shown}: {e}")
        });
        assert!(
            status < 500,
            "{service}: {status} (seed {seed}) for {shown}: {}",
            String::from_utf8_lossy(&probe.body)
                .chars()
                .take(300)
                .collect::<String>()
        );
        *statuses.entry(status).or_default() += 1;
    }
    println!("{service} fuzz (seed {seed}): statuses {statuses:?}");
    assert!(statuses.len() > 3, "the fuzz reached several outcomes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_get_a_5xx_or_hang_and_memory_stays_bounded() {
    let seed = std::env::var("SENDREALM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5E4D_2EA1_u64);
    let pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &[]).await;
    let project = &pipeline.stack.project;
    let tokens = [
        Some(project.key.clone()),
        Some(project.key.clone()),
        Some(ADMIN_TOKEN.to_owned()),
        Some("sk_not_a_key".to_owned()),
        Some(format!("{}x", project.key)),
        Some(String::new()),
        None,
    ];
    let agent_paths = [
        "/events",
        "/events",
        "/events/batch",
        "/events/batch",
        "/healthz",
        "/readyz",
        "/metrics",
        "/{}",
        "/events/{}",
    ];
    fuzz(
        "agent",
        &pipeline.stack.agent.url,
        seed,
        &agent_paths,
        &tokens,
    )
    .await;

    let project_path = format!("/dashboard/{}/catalog/{{}}", project.id);
    let aggregator_paths = [
        "/v1/events",
        "/v1/events/{}",
        "/v1/contacts/{}",
        "/v1/catalog",
        "/v1/catalog/{}",
        "/v1/catalog/{}/pii/{}",
        "/v1/system-events",
        "/v1/waits",
        "/v1/waits/{}",
        "/v1/dlq/counts",
        "/v1/backoffice/catalog",
        "/v1/backoffice/latency",
        "/dashboard",
        "/dashboard/login",
        project_path.as_str(),
        "/backoffice",
        "/backoffice/login",
        "/backoffice/dead-letters/{}",
        "/backoffice/projects/{}",
        "/healthz",
        "/readyz",
        "/metrics",
        "/{}",
    ];
    // The aggregator mostly gets the admin token.
    let mut tokens = tokens;
    tokens.swap(0, 2);
    fuzz(
        "aggregator",
        &pipeline.aggregator.url,
        seed ^ 0xA66,
        &aggregator_paths,
        &tokens,
    )
    .await;

    // Still serving, in bounded memory.
    pipeline.stack.agent.wait_ready().await;
    pipeline.aggregator.wait_ready().await;
    let (_, agent_peak) = rss_mb(pipeline.stack.agent.pid()).expect("agent memory");
    let (_, aggregator_peak) = rss_mb(pipeline.aggregator.pid()).expect("aggregator memory");
    println!("fuzz memory peaks (MB): agent {agent_peak:.1}, aggregator {aggregator_peak:.1}");
    assert!(agent_peak < 96.0, "agent peak {agent_peak:.1} MB");
    assert!(
        aggregator_peak < 320.0,
        "aggregator peak {aggregator_peak:.1} MB"
    );
}
