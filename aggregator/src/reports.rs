//! The agents' refusal reports: consumed from the stats stream (one durable consumer shared
//! by every aggregator) and added to the projects' figures, each report once (its
//! `Nats-Msg-Id` is recorded in the same transaction), acked after the commit.

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::AckPolicy, consumer::pull};
use sendrealm_common::stats::RefusalReport;
use tokio_util::sync::CancellationToken;

use crate::figures::{self, Delta};
use crate::store::Store;

/// The durable consumer's name.
pub const DURABLE: &str = "sendrealm-aggregator-reports";

/// The figures a report adds: one `refused.<code>` counter per project and code.
pub fn deltas_of(report: &RefusalReport) -> Vec<Delta> {
    report
        .counts
        .iter()
        .filter(|c| c.count > 0)
        .map(|c| {
            Delta::counter(
                &c.project_id,
                &format!("{}{}", figures::REFUSED, c.code),
                c.count,
            )
        })
        .collect()
}

/// Consumes reports until `stop`, resuming after any interruption.
pub async fn run(js: jetstream::Context, store: Store, replicas: usize, stop: CancellationToken) {
    let mut delay = Duration::from_millis(200);
    while !stop.is_cancelled() {
        match session(&js, &store, replicas, &stop).await {
            Ok(()) => return,
            Err(error) => tracing::debug!(%error, "Refusal reports interrupted; resuming."),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn session(
    js: &jetstream::Context,
    store: &Store,
    replicas: usize,
    stop: &CancellationToken,
) -> Result<(), String> {
    let stream = sendrealm_common::service::ensure_stats_stream(js, replicas).await?;
    let consumer = stream
        .get_or_create_consumer(
            DURABLE,
            pull::Config {
                durable_name: Some(DURABLE.to_owned()),
                description: Some("Sendrealm refusal reports".into()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("reports consumer: {e}"))?;
    crate::pull::each_message(consumer, "reports", stop, |message| async move {
        let report: RefusalReport = match serde_json::from_slice(&message.payload) {
            Ok(report) => report,
            Err(error) => {
                tracing::warn!(%error, subject = %message.subject, "Unreadable refusal report; skipped.");
                let _ = message.ack().await;
                return;
            }
        };
        // The agent's id for the report; the stream position when it sent none.
        let id = match message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")) {
            Some(id) => id.to_string(),
            None => match message.info() {
                Ok(info) => format!("seq:{}", info.stream_sequence),
                Err(_) => String::new(),
            },
        };
        let hour = figures::hour_of(report.at_ms);
        let report_id = Some(id.as_str()).filter(|i| !i.is_empty());
        match store.add_figures(hour, &deltas_of(&report), report_id).await {
            Ok(_) => {
                let _ = message.ack().await;
            }
            Err(error) => {
                tracing::debug!(%error, "Refusal report not added yet; retrying.");
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                    .await;
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sendrealm_common::stats::RefusalCount;

    #[test]
    fn a_report_adds_one_counter_per_project_and_code() {
        let report = RefusalReport {
            agent: "a".into(),
            region: "eu".into(),
            at_ms: 0,
            counts: vec![
                RefusalCount {
                    project_id: "proj_a".into(),
                    code: "payload_too_large".into(),
                    count: 3,
                },
                RefusalCount {
                    project_id: "proj_a".into(),
                    code: "rate_limited".into(),
                    count: 0,
                },
            ],
        };
        assert_eq!(
            deltas_of(&report),
            [Delta::counter("proj_a", "refused.payload_too_large", 3)]
        );
    }
}
