//! What a region is made of in NATS: its events stream and policy mirror in its own
//! domain, and the hub stream's source for it.

use std::time::Duration;

use async_nats::jetstream::{
    kv,
    stream::{self, External, Source, SubjectTransform},
};
use sendrealm_common::config::{NatsConfig, Storage};
use sendrealm_common::subjects;

use crate::config::RegionsConfig;

/// Revisions of each policy kept by a region's mirror (as many as the bucket keeps).
const MIRROR_HISTORY: i64 = 5;

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
pub(super) fn policy_mirror(nats: &NatsConfig, regions: &RegionsConfig) -> kv::Config {
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

fn api_prefix(region: &str) -> String {
    format!("$JS.{region}.API")
}

pub(super) fn is_source_of(source: &Source, region: &str) -> bool {
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
