//! Refusals per project and error code, reported to the aggregator every few seconds (on
//! the stats stream) so the backoffice can show a project's bad payloads beside its queue
//! lag. A report that cannot be published is kept and added to the next one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use sendrealm_common::stats::{RefusalCount, RefusalReport};
use sendrealm_common::subjects::REFUSALS_SUBJECT_PREFIX;
use tokio_util::sync::CancellationToken;

/// How often refusals are reported.
const EVERY: Duration = Duration::from_secs(5);

/// Refusals not reported yet.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Refusals {
    /// Counts one refused event of a project.
    pub fn count(&self, project_id: &str, code: ErrorCode) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts
            .entry((project_id.to_owned(), code.as_str()))
            .or_default() += 1;
    }

    /// Takes the counts to report, leaving none.
    pub fn take(&self) -> Vec<RefusalCount> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *counts)
            .into_iter()
            .map(|((project_id, code), count)| RefusalCount {
                project_id,
                code: code.to_owned(),
                count,
            })
            .collect()
    }

    /// Puts back counts whose report could not be sent.
    pub fn restore(&self, counts: Vec<RefusalCount>) {
        let mut kept = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for c in counts {
            // Codes come from `ErrorCode::as_str`, so one always matches.
            if let Some(code) = ErrorCode::ALL.iter().find(|k| k.as_str() == c.code) {
                *kept.entry((c.project_id, code.as_str())).or_default() += c.count;
            }
        }
    }
}

/// Reports refusals every few seconds until `stop`, then once more (creating the stats
/// stream first when `create_stream`). Each report carries a
/// `Nats-Msg-Id` unique to this agent's life, so a retried publish is stored once.
pub async fn report(
    js: jetstream::Context,
    refusals: Arc<Refusals>,
    region: String,
    replicas: usize,
    create_stream: bool,
    stop: CancellationToken,
) {
    let agent = agent_name();
    let subject = format!("{REFUSALS_SUBJECT_PREFIX}.{region}");
    let mut sequence: u64 = 0;
    // An agent that may not create streams (a region's, with least-privilege credentials)
    // publishes to the hub's stats stream across the leaf link; while the hub is away the
    // reports wait and are added to the next one.
    let mut stream_ready = !create_stream;
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(EVERY) => false,
        };
        let counts = refusals.take();
        if !counts.is_empty() {
            if !stream_ready {
                stream_ready = sendrealm_common::service::ensure_stats_stream(&js, replicas)
                    .await
                    .map_err(|error| tracing::debug!(%error, "Stats stream not ready."))
                    .is_ok();
            }
            sequence += 1;
            let report = RefusalReport {
                agent: agent.clone(),
                region: region.clone(),
                at_ms: Timestamp::now().unix_millis(),
                counts,
            };
            let id = format!("refusals:{agent}:{sequence}");
            if let Err(error) = publish(&js, &subject, &id, &report).await {
                tracing::debug!(%error, "Refusal report not sent; it joins the next one.");
                refusals.restore(report.counts);
            }
        }
        if stopping {
            return;
        }
    }
}

async fn publish(
    js: &jetstream::Context,
    subject: &str,
    id: &str,
    report: &RefusalReport,
) -> Result<(), String> {
    let body = serde_json::to_vec(report).map_err(|e| e.to_string())?;
    let message = jetstream::message::PublishMessage::build()
        .payload(body.into())
        .message_id(id);
    js.send_publish(subject.to_owned(), message)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A name for this agent process: host and a random part, fixed for its life.
/// A name unique to this agent process (process id and random bytes).
pub(crate) fn agent_name() -> String {
    let mut bytes = [0u8; 6];
    // Only distinctness matters; without randomness the process id still tells agents apart.
    let _ = getrandom::fill(&mut bytes);
    format!("{}-{}", std::process::id(), hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_taken_once_and_restored_after_a_failed_report() {
        let refusals = Refusals::default();
        refusals.count("proj_a", ErrorCode::PayloadTooLarge);
        refusals.count("proj_a", ErrorCode::PayloadTooLarge);
        refusals.count("proj_b", ErrorCode::RateLimited);
        let taken = refusals.take();
        assert_eq!(taken.len(), 2);
        assert_eq!(
            taken[0],
            RefusalCount {
                project_id: "proj_a".into(),
                code: "payload_too_large".into(),
                count: 2
            }
        );
        assert!(refusals.take().is_empty());
        refusals.restore(taken);
        refusals.count("proj_a", ErrorCode::PayloadTooLarge);
        let again = refusals.take();
        assert_eq!(again[0].count, 3);
        assert_eq!(again[1].code, "rate_limited");
    }
}
