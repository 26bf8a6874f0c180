//! Regions: NATS leaf nodes, each with its own JetStream domain, where agents publish to
//! the region's stream and get a local ack, so a region keeps accepting while the hub is
//! away. The hub's events stream sources every regional stream, renaming subjects to the
//! hub's prefix; a mirror of the policy bucket in each region lets its agents start and
//! enforce policies during an outage.
//!
//! The aggregator provisions both through the leaf link (`$JS.<region>.API`) and keeps the
//! events stream's sources in step with `[regions]`, so agents need no right to create
//! anything. It never deletes or recreates a regional stream: a source keeps its position
//! by sequence and would skip a recreated stream's events (nats-server #8346).

use std::time::Duration;

use async_nats::jetstream::{self, ErrorCode};
use sendrealm_common::config::NatsConfig;
use sendrealm_common::subjects;
use tokio_util::sync::CancellationToken;

use crate::config::RegionsConfig;

mod progress;
mod streams;

pub use progress::Progress;
use streams::{is_source_of, policy_mirror};
pub use streams::{regional_stream, source};

/// How long a leaf may take to answer one request before the region counts as unreachable.
const LEAF_TIMEOUT: Duration = Duration::from_secs(3);

/// One region as the hub sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RegionState {
    /// Region name (and its leaf's JetStream domain).
    pub name: String,
    /// Its stream and policy mirror exist.
    pub provisioned: bool,
    /// The events stream sources it.
    pub sourced: bool,
    /// Its events not yet in the hub's stream, as of the last check.
    pub lag: Option<u64>,
    /// Time since the source last heard from the region.
    pub last_active: Option<Duration>,
    /// Messages the region's stream holds in all (its last sequence).
    pub accepted: Option<u64>,
    /// Of those, how many this aggregator has not received yet: the region's backlog
    /// (known once an event from the region has arrived since this aggregator started).
    pub pending: Option<u64>,
    /// What failed at the last check, if anything.
    pub error: Option<String>,
}

/// Why a round of checks could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RegionsError {
    /// The events stream is not there (yet) or JetStream is unreachable.
    #[error("events stream {name}: {reason}")]
    Events {
        /// Stream name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Checks regions every `check_secs` until `stop`, publishing their state to `report`.
pub async fn run(
    client: async_nats::Client,
    js: jetstream::Context,
    nats: NatsConfig,
    regions: RegionsConfig,
    progress: std::sync::Arc<Progress>,
    report: impl Fn(Vec<RegionState>) + Send + 'static,
    stop: CancellationToken,
) {
    if regions.names.is_empty() {
        return;
    }
    let mut last_errors: Vec<Option<String>> = Vec::new();
    loop {
        match check(&client, &js, &nats, &regions, Some(&progress)).await {
            Ok(states) => {
                let errors: Vec<_> = states.iter().map(|s| s.error.clone()).collect();
                // Logged when something changes, not every round of an outage.
                if errors != last_errors {
                    for state in &states {
                        match &state.error {
                            Some(error) => {
                                tracing::warn!(region = %state.name, %error, "Region not ready.")
                            }
                            None => tracing::info!(region = %state.name, "Region ready."),
                        }
                    }
                    last_errors = errors;
                }
                report(states);
            }
            Err(error) => tracing::warn!(%error, "Cannot check regions yet."),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(regions.check_secs)) => {}
        }
    }
}

/// One round: provisions what is missing in each region, adds missing sources to the
/// events stream, and reads each region's lag (and backlog, given this aggregator's
/// `progress`).
pub async fn check(
    client: &async_nats::Client,
    js: &jetstream::Context,
    nats: &NatsConfig,
    regions: &RegionsConfig,
    progress: Option<&Progress>,
) -> Result<Vec<RegionState>, RegionsError> {
    let events_error = |reason: String| RegionsError::Events {
        name: nats.stream.name.clone(),
        reason,
    };
    let provisioned = futures::future::join_all(
        regions
            .names
            .iter()
            .map(|region| provision(client, nats, regions, region)),
    )
    .await;
    // Created here when missing (as the consumer would), so `regions` alone provisions.
    let mut events = sendrealm_common::service::ensure_events_stream(js, &nats.stream)
        .await
        .map_err(|e| events_error(e.to_string()))?;
    let mut config = events.cached_info().config.clone();
    let mut sources = config.sources.take().unwrap_or_default();
    let missing: Vec<&String> = regions
        .names
        .iter()
        .filter(|region| !sources.iter().any(|s| is_source_of(s, region)))
        .collect();
    if !missing.is_empty() {
        sources.extend(
            missing
                .iter()
                .map(|region| source(region, &nats.stream.subject_prefix)),
        );
        config.sources = Some(sources);
        js.update_stream(config)
            .await
            .map_err(|e| events_error(format!("cannot add region sources: {e}")))?;
        tracing::info!(regions = ?missing, "The events stream now sources these regions.");
    }
    // The info read above still holds unless sources were just added.
    let info = if missing.is_empty() {
        events.cached_info().clone()
    } else {
        events
            .info()
            .await
            .map_err(|e| events_error(e.to_string()))?
            .clone()
    };
    Ok(regions
        .names
        .iter()
        .zip(provisioned)
        .map(|(region, provisioned)| {
            // A source's state does not name its domain; its subject transform names the
            // region.
            let prefix = subjects::regional_prefix(region);
            let source = info.sources.iter().find(|s| {
                s.subject_transforms
                    .iter()
                    .any(|t| t.source.starts_with(&prefix))
            });
            let accepted = provisioned.as_ref().ok().copied();
            let seen = progress.and_then(|p| p.seen(region));
            RegionState {
                name: region.clone(),
                provisioned: provisioned.is_ok(),
                sourced: source.is_some(),
                lag: source.map(|s| s.lag),
                last_active: source.and_then(|s| s.active),
                accepted,
                pending: accepted.zip(seen).map(|(a, s)| a.saturating_sub(s)),
                error: provisioned.err(),
            }
        })
        .collect())
}

/// Makes sure the region's events stream and policy mirror exist (never changing them);
/// returns the stream's last sequence.
async fn provision(
    client: &async_nats::Client,
    nats: &NatsConfig,
    regions: &RegionsConfig,
    region: &str,
) -> Result<u64, String> {
    let leaf = jetstream::ContextBuilder::new()
        .timeout(LEAF_TIMEOUT)
        .domain(region)
        .build(client.clone());
    let last_sequence = match leaf.get_stream(subjects::REGIONAL_STREAM).await {
        Ok(stream) => stream.cached_info().state.last_sequence,
        Err(error) if is_not_found(&error) => {
            leaf.create_stream(regional_stream(region, nats, regions))
                .await
                .map_err(|e| format!("cannot create its events stream: {e}"))?;
            tracing::info!(region, "Created the region's events stream.");
            0
        }
        Err(error) => return Err(format!("leaf unreachable: {error}")),
    };
    if leaf.get_key_value(&nats.policy_bucket).await.is_err() {
        leaf.create_key_value(policy_mirror(nats, regions))
            .await
            .map_err(|e| format!("cannot create its policy mirror: {e}"))?;
        tracing::info!(region, "Created the region's policy mirror.");
    }
    Ok(last_sequence)
}

fn is_not_found(error: &jetstream::context::GetStreamError) -> bool {
    matches!(
        error.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(e)
            if e.error_code() == ErrorCode::STREAM_NOT_FOUND
    )
}

/// The regions' gauges in the Prometheus text format (nothing without regions).
pub fn render(out: &mut String, states: &[RegionState]) {
    if states.is_empty() {
        return;
    }
    gauge(
        out,
        states,
        "sendrealm_region_ready",
        "Whether a region is provisioned and sourced by the events stream.",
        |s| Some(u8::from(s.provisioned && s.sourced).to_string()),
    );
    gauge(
        out,
        states,
        "sendrealm_region_lag_messages",
        "The hub's source lag for a region, as of the source's last contact.",
        |s| s.lag.map(|n| n.to_string()),
    );
    gauge(
        out,
        states,
        "sendrealm_region_pending_messages",
        "Messages accepted in a region that this aggregator has not received yet.",
        |s| s.pending.map(|n| n.to_string()),
    );
    gauge(
        out,
        states,
        "sendrealm_region_last_active_seconds",
        "Time since the hub last heard from a region's stream.",
        |s| s.last_active.map(|d| format!("{:.3}", d.as_secs_f64())),
    );
}

/// One gauge with a sample per region that has a value.
fn gauge(
    out: &mut String,
    states: &[RegionState],
    name: &str,
    help: &str,
    value: impl Fn(&RegionState) -> Option<String>,
) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for state in states {
        if let Some(value) = value(state) {
            let _ = writeln!(out, "{name}{{region=\"{}\"}} {value}", state.name);
        }
    }
}
