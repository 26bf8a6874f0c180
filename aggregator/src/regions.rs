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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::{
    self, ErrorCode, kv,
    stream::{self, External, Source, SubjectTransform},
};
use sendrealm_common::config::{NatsConfig, Storage};
use sendrealm_common::subjects;
use tokio_util::sync::CancellationToken;

use crate::config::RegionsConfig;

/// How long a leaf may take to answer one request before the region counts as unreachable.
const LEAF_TIMEOUT: Duration = Duration::from_secs(3);
/// Revisions of each policy kept by a region's mirror (as many as the bucket keeps).
const MIRROR_HISTORY: i64 = 5;

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

/// The furthest message of each region this aggregator has pulled, by the region's own
/// sequence (sourced messages carry it in `Nats-Stream-Source`).
#[derive(Debug, Default)]
pub struct Progress(Mutex<HashMap<String, u64>>);

impl Progress {
    /// Notes a pulled message (a no-op for one published at the hub).
    pub fn note(&self, headers: Option<&async_nats::HeaderMap>) {
        let Some(value) = headers.and_then(|h| h.get("Nats-Stream-Source")) else {
            return;
        };
        if let Some((region, sequence)) = origin(value.as_str())
            && let Ok(mut seen) = self.0.lock()
        {
            let held = seen.entry(region.to_owned()).or_default();
            *held = (*held).max(sequence);
        }
    }

    /// The furthest sequence pulled from `region`, if any yet.
    pub fn seen(&self, region: &str) -> Option<u64> {
        self.0.lock().ok()?.get(region).copied()
    }
}

/// The region and its stream's sequence, from a `Nats-Stream-Source` header:
/// `<stream>:<hash> <sequence> > > <origin subject> …`, the subject being the region's.
fn origin(header: &str) -> Option<(&str, u64)> {
    let mut fields = header.split_whitespace();
    fields.next()?;
    let sequence = fields.next()?.parse().ok()?;
    let region = fields
        .find_map(|f| f.strip_prefix("sendrealm.regions."))?
        .split('.')
        .next()
        .filter(|r| !r.is_empty())?;
    Some((region, sequence))
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
    let info = events
        .info()
        .await
        .map_err(|e| events_error(e.to_string()))?;
    Ok(regions
        .names
        .iter()
        .zip(provisioned)
        .map(|(region, provisioned)| {
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

/// A region's events stream. Limits retention, so a resent idempotency key is answered
/// with the original for the whole duplicate window; `discard: New` so a full stream
/// refuses new events (the agent answers `503`) instead of dropping unsent ones.
pub fn regional_stream(region: &str, nats: &NatsConfig, regions: &RegionsConfig) -> stream::Config {
    let mut config = sendrealm_common::service::events_stream_config(&nats.stream);
    config.name = subjects::REGIONAL_STREAM.into();
    config.description = Some(format!("Sendrealm events accepted in region {region}"));
    config.subjects = vec![subjects::stream_subjects(&subjects::regional_prefix(
        region,
    ))];
    config.num_replicas = 1;
    config.max_age =
        Duration::from_secs(regions.keep_days * sendrealm_common::policy::SECS_PER_DAY);
    config.max_bytes = if regions.max_bytes == 0 {
        -1
    } else {
        i64::try_from(regions.max_bytes).unwrap_or(i64::MAX)
    };
    config.discard = stream::DiscardPolicy::New;
    config
}

/// The region's read-only copy of the policy bucket, following the hub's across the link.
fn policy_mirror(nats: &NatsConfig, regions: &RegionsConfig) -> kv::Config {
    kv::Config {
        bucket: nats.policy_bucket.clone(),
        description: "Sendrealm project policies (mirror of the hub's)".into(),
        history: MIRROR_HISTORY,
        storage: match nats.stream.storage {
            Storage::File => stream::StorageType::File,
            Storage::Memory => stream::StorageType::Memory,
        },
        // `external`, not `domain`: async-nats would send `domain` as a field a strict
        // server refuses (NATS.md §6.2).
        mirror: Some(Source {
            name: nats.policy_bucket.clone(),
            external: Some(External {
                api_prefix: format!("$JS.{}.API", regions.hub_domain),
                delivery_prefix: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The events stream's source for a region: its stream in its domain, subjects renamed
/// from the region's prefix to the hub's.
pub fn source(region: &str, hub_prefix: &str) -> Source {
    Source {
        name: subjects::REGIONAL_STREAM.into(),
        external: Some(External {
            api_prefix: api_prefix(region),
            delivery_prefix: None,
        }),
        subject_transforms: vec![SubjectTransform {
            source: subjects::stream_subjects(&subjects::regional_prefix(region)),
            destination: subjects::stream_subjects(hub_prefix),
        }],
        ..Default::default()
    }
}

/// The regions' gauges in the Prometheus text format (nothing without regions).
pub fn render(out: &mut String, states: &[RegionState]) {
    use std::fmt::Write as _;
    if states.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "# HELP sendrealm_region_ready Whether a region is provisioned and sourced by the events stream.\n\
         # TYPE sendrealm_region_ready gauge"
    );
    for state in states {
        let ready = state.provisioned && state.sourced;
        let _ = writeln!(
            out,
            "sendrealm_region_ready{{region=\"{}\"}} {}",
            state.name,
            u8::from(ready)
        );
    }
    let _ = writeln!(
        out,
        "# HELP sendrealm_region_lag_messages Messages in a region's stream not yet in the hub's.\n\
         # TYPE sendrealm_region_lag_messages gauge"
    );
    for state in states {
        if let Some(lag) = state.lag {
            let _ = writeln!(
                out,
                "sendrealm_region_lag_messages{{region=\"{}\"}} {lag}",
                state.name
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sendrealm_region_pending_messages Messages accepted in a region that this aggregator has not received yet.\n\
         # TYPE sendrealm_region_pending_messages gauge"
    );
    for state in states {
        if let Some(pending) = state.pending {
            let _ = writeln!(
                out,
                "sendrealm_region_pending_messages{{region=\"{}\"}} {pending}",
                state.name
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sendrealm_region_last_active_seconds Time since the hub last heard from a region's stream.\n\
         # TYPE sendrealm_region_last_active_seconds gauge"
    );
    for state in states {
        if let Some(active) = state.last_active {
            let _ = writeln!(
                out,
                "sendrealm_region_last_active_seconds{{region=\"{}\"}} {:.3}",
                state.name,
                active.as_secs_f64()
            );
        }
    }
}

fn api_prefix(region: &str) -> String {
    format!("$JS.{region}.API")
}

fn is_source_of(source: &Source, region: &str) -> bool {
    source
        .external
        .as_ref()
        .is_some_and(|e| e.api_prefix == api_prefix(region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_sourced_from_its_domain_with_its_subjects_renamed() {
        let source = source("eu-1", "sendrealm.events");
        assert!(is_source_of(&source, "eu-1"));
        assert!(!is_source_of(&source, "eu"));
        assert_eq!(source.name, "SENDREALM_REGION");
        assert_eq!(source.domain, None, "a strict server refuses `domain`");
        assert_eq!(
            source.subject_transforms,
            vec![SubjectTransform {
                source: "sendrealm.regions.eu-1.events.>".into(),
                destination: "sendrealm.events.>".into(),
            }]
        );
    }

    #[test]
    fn a_sourced_message_names_its_region_and_sequence() {
        assert_eq!(
            origin(
                "SENDREALM_REGION:a1b2c3 57 > > sendrealm.regions.eu-1.events.proj_1.order.done 9"
            ),
            Some(("eu-1", 57))
        );
        assert_eq!(
            origin("SENDREALM_REGION:a1b2c3 57 > > sendrealm.events.proj_1.x"),
            None
        );
        assert_eq!(
            origin("SENDREALM_REGION:a1b2c3 x > > sendrealm.regions.eu.events.p.x"),
            None
        );
        assert_eq!(origin(""), None);
        let progress = Progress::default();
        let mut headers = async_nats::HeaderMap::new();
        for sequence in [5, 9, 7] {
            headers.insert(
                "Nats-Stream-Source",
                format!("S:h {sequence} > > sendrealm.regions.us.events.p.e").as_str(),
            );
            progress.note(Some(&headers));
        }
        progress.note(None);
        assert_eq!(progress.seen("us"), Some(9));
        assert_eq!(progress.seen("eu"), None);
    }

    #[test]
    fn a_regional_stream_refuses_rather_than_drops_when_full() {
        let regions = RegionsConfig {
            max_bytes: 1 << 30,
            ..RegionsConfig::default()
        };
        let config = regional_stream("eu", &NatsConfig::default(), &regions);
        assert_eq!(config.subjects, vec!["sendrealm.regions.eu.events.>"]);
        assert_eq!(config.discard, stream::DiscardPolicy::New);
        assert_eq!(config.max_bytes, 1 << 30);
        assert_eq!(config.max_age, Duration::from_secs(7 * 86_400));
        assert!(config.allow_direct && config.allow_message_ttl);
        assert!(!config.duplicate_window.is_zero());
    }
}
