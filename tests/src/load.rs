//! Load for fault tests: workers send single events and batches with unique idempotency
//! keys and keep a ledger of what each answer promised. After the fault, the ledger is
//! compared with the stored rows key by key: every acknowledged key stored exactly once,
//! nothing stored that was never sent.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Concurrent workers.
    pub workers: usize,
    /// Every `batch_every`-th request of a worker is a batch (0: singles only).
    pub batch_every: u64,
    /// Events per batch.
    pub batch_size: usize,
    /// The event name every event carries (the stored rows are counted by it).
    pub event: String,
    /// Stop after this many events in all (None: until stopped).
    pub max_events: Option<u64>,
    /// Pause of each worker between requests (zero: as fast as answers come).
    pub pause: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            workers: 4,
            batch_every: 4,
            batch_size: 20,
            event: "load.sent".into(),
            max_events: None,
            pause: Duration::ZERO,
        }
    }
}

/// What the answers promised, per idempotency key.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Every key sent.
    pub sent: HashSet<String>,
    /// Keys answered 202 or 200: they must be stored exactly once.
    pub acked: HashSet<String>,
    /// Answers that were not an acknowledgement, by status (0: no answer at all).
    pub unconfirmed: BTreeMap<u16, u64>,
}

/// Figures of one fault run, for docs/durability.md.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultReport {
    /// Which fault.
    pub fault: String,
    /// Events sent.
    pub sent: usize,
    /// Events acknowledged (202/200).
    pub acknowledged: usize,
    /// Rows stored.
    pub stored: usize,
    /// Acknowledged but not stored.
    pub lost: usize,
    /// Rows beyond one per key.
    pub duplicated: usize,
    /// Stored although the client was not told so (a 503 or a cut connection).
    pub stored_unconfirmed: usize,
    /// Non-acknowledgements by status (0: connection error).
    pub unconfirmed: BTreeMap<u16, u64>,
}

impl Ledger {
    /// Compares with the stored keys (one entry per row) and fails the test on a lost,
    /// duplicated or unknown event. Prints and returns the figures.
    pub fn check(&self, fault: &str, stored_keys: &[String]) -> FaultReport {
        let distinct: HashSet<&String> = stored_keys.iter().collect();
        let lost: Vec<&String> = self
            .acked
            .iter()
            .filter(|k| !distinct.contains(k))
            .collect();
        let unknown: Vec<&&String> = distinct
            .iter()
            .filter(|k| !self.sent.contains(**k))
            .collect();
        let report = FaultReport {
            fault: fault.to_owned(),
            sent: self.sent.len(),
            acknowledged: self.acked.len(),
            stored: stored_keys.len(),
            lost: lost.len(),
            duplicated: stored_keys.len() - distinct.len(),
            stored_unconfirmed: distinct
                .iter()
                .filter(|k| !self.acked.contains(**k))
                .count(),
            unconfirmed: self.unconfirmed.clone(),
        };
        println!(
            "fault report: {}",
            serde_json::to_string(&report).unwrap_or_default()
        );
        assert!(
            report.acknowledged > 0,
            "nothing was acknowledged: {report:?}"
        );
        assert!(
            lost.is_empty(),
            "{} acknowledged events lost, e.g. {:?}",
            lost.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        );
        assert_eq!(report.duplicated, 0, "duplicates stored: {report:?}");
        assert!(unknown.is_empty(), "stored keys never sent: {unknown:?}");
        report
    }
}

/// Running load against an agent whose address may change (a restarted agent).
pub struct Load {
    target: Arc<RwLock<String>>,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How long one request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed request, so a dead agent is not spun on.
const BACKOFF: Duration = Duration::from_millis(20);

impl Load {
    /// Starts the workers against `agent_url` with `key`. Keys are `<run>-<worker>-<n>`.
    pub fn start(agent_url: &str, key: &str, config: LoadConfig) -> Load {
        let target = Arc::new(RwLock::new(agent_url.to_owned()));
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(AtomicU64::new(0));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let run = crate::unique_suffix();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("HTTP client");
        let tasks = (0..config.workers)
            .map(|worker| {
                let worker = Worker {
                    http: http.clone(),
                    key: key.to_owned(),
                    prefix: format!("{run}-{worker}"),
                    config: config.clone(),
                    target: Arc::clone(&target),
                    stop: Arc::clone(&stop),
                    events: Arc::clone(&events),
                    ledger: Arc::clone(&ledger),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        Load {
            target,
            stop,
            ledger,
            tasks,
        }
    }

    /// Sends to another agent from now on.
    pub fn retarget(&self, agent_url: &str) {
        if let Ok(mut target) = self.target.write() {
            *target = agent_url.to_owned();
        }
    }

    /// How many events were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.ledger.lock().map(|l| l.acked.len()).unwrap_or(0)
    }

    /// Waits until `more` events beyond now were acknowledged (the load makes progress).
    pub async fn wait_for_acks(&self, more: usize, timeout: Duration) {
        let goal = self.acked() + more;
        crate::wait::until(timeout, &format!("{goal} acknowledged events"), || async {
            (self.acked() >= goal).then_some(())
        })
        .await;
    }

    /// Whether every worker has stopped (all of `max_events` sent).
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(|t| t.is_finished())
    }

    /// Stops the workers (in-flight requests finish) and returns the ledger.
    pub async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::Release);
        for task in self.tasks {
            task.await.expect("load worker");
        }
        let ledger = Arc::try_unwrap(self.ledger).expect("no worker left");
        ledger.into_inner().expect("ledger")
    }
}

struct Worker {
    http: reqwest::Client,
    key: String,
    prefix: String,
    config: LoadConfig,
    target: Arc<RwLock<String>>,
    stop: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Worker {
    async fn run(self) {
        let mut n: u64 = 0;
        let mut request: u64 = 0;
        while !self.stop.load(Ordering::Acquire) {
            request += 1;
            let size =
                if self.config.batch_every > 0 && request.is_multiple_of(self.config.batch_every) {
                    self.config.batch_size
                } else {
                    1
                };
            let taken = self.events.fetch_add(size as u64, Ordering::Relaxed);
            if self.config.max_events.is_some_and(|max| taken >= max) {
                return;
            }
            let events: Vec<Value> = (0..size)
                .map(|_| {
                    n += 1;
                    json!({
                        "event": self.config.event,
                        "external_id": format!("u{}", n % 50),
                        "payload": {"n": n, "worker": self.prefix},
                        "idempotency_key": format!("{}-{n}", self.prefix),
                    })
                })
                .collect();
            let keys: Vec<String> = events
                .iter()
                .map(|e| e["idempotency_key"].as_str().unwrap_or_default().to_owned())
                .collect();
            let outcomes = self.send(size, events).await;
            let failed = outcomes.iter().any(|s| !matches!(s, 200 | 202));
            if let Ok(mut ledger) = self.ledger.lock() {
                for (key, status) in keys.into_iter().zip(outcomes) {
                    ledger.sent.insert(key.clone());
                    match status {
                        200 | 202 => {
                            ledger.acked.insert(key);
                        }
                        400..=499 if status != 429 => {
                            panic!("the load sends valid events only; {key} got {status}")
                        }
                        other => *ledger.unconfirmed.entry(other).or_default() += 1,
                    }
                }
            }
            if failed {
                tokio::time::sleep(BACKOFF).await;
            } else if !self.config.pause.is_zero() {
                tokio::time::sleep(self.config.pause).await;
            }
        }
    }

    /// Sends the events; returns one status per event (0 when there was no answer).
    async fn send(&self, size: usize, events: Vec<Value>) -> Vec<u16> {
        let url = self.target.read().map(|t| t.clone()).unwrap_or_default();
        let (path, body) = if size == 1 {
            ("/events", events.into_iter().next().unwrap_or_default())
        } else {
            ("/events/batch", json!({ "events": events }))
        };
        let response = self
            .http
            .post(format!("{url}{path}"))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await;
        let Ok(response) = response else {
            return vec![0; size];
        };
        let status = response.status().as_u16();
        let Ok(body) = response.json::<Value>().await else {
            return vec![0; size];
        };
        if size == 1 || status != 200 {
            return vec![status; size];
        }
        let results = body["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(results.len(), size, "one result per batch item: {body}");
        results
            .iter()
            .map(|r| r["status"].as_u64().unwrap_or(0) as u16)
            .collect()
    }
}
