//! NATS names: subjects, streams, buckets and headers, in one place.
//!
//! An event is published to `<prefix>.<project_id>.<event name>`. Project ids and event
//! names are both valid subject tokens by construction (see [`crate::validate`]), so the
//! subject can be built without escaping.

/// Default events stream.
pub const DEFAULT_STREAM: &str = "SENDREALM_EVENTS";
/// Default subject prefix of the events stream (`sendrealm.events.>`).
pub const DEFAULT_SUBJECT_PREFIX: &str = "sendrealm.events";
/// Default KV bucket holding project policies.
pub const DEFAULT_POLICY_BUCKET: &str = "sendrealm_policies";

/// The events stream of a region's leaf node (one per JetStream domain, so every region
/// uses the same name); the hub's events stream sources each of them.
pub const REGIONAL_STREAM: &str = "SENDREALM_REGION";

/// The subject prefix of a region's events: `sendrealm.regions.<region>.events`. Each
/// region has its own, so one region's stream never captures another's events (interest
/// crosses leaf links whatever the JetStream domain).
pub fn regional_prefix(region: &str) -> String {
    format!("sendrealm.regions.{region}.events")
}

/// Whether `name` can be one subject token (a region name, a JetStream domain): ASCII
/// letters, digits, `-` and `_`.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stream of operational reports between the services (agents' refusal counts).
pub const STATS_STREAM: &str = "SENDREALM_STATS";
/// Agents publish their refusal reports on `<this>.<region>`.
pub const REFUSALS_SUBJECT_PREFIX: &str = "sendrealm.stats.refused";

/// Header carrying the per-message TTL (seconds) derived from the project's retention.
pub const NATS_TTL: &str = "Nats-TTL";

/// The subject an event is published on.
pub fn event_subject(prefix: &str, project_id: &str, event_name: &str) -> String {
    let mut subject = String::with_capacity(prefix.len() + project_id.len() + event_name.len() + 2);
    subject.push_str(prefix);
    subject.push('.');
    subject.push_str(project_id);
    subject.push('.');
    subject.push_str(event_name);
    subject
}

/// The wildcard subject the events stream captures.
pub fn stream_subjects(prefix: &str) -> String {
    format!("{prefix}.>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_names_project_and_event() {
        assert_eq!(
            event_subject("sendrealm.events", "proj_1", "order.completed"),
            "sendrealm.events.proj_1.order.completed"
        );
        assert_eq!(stream_subjects("sendrealm.events"), "sendrealm.events.>");
    }

    #[test]
    fn regions_have_their_own_subjects() {
        assert_eq!(regional_prefix("eu-1"), "sendrealm.regions.eu-1.events");
        assert!(is_token("eu-1") && is_token("us_east"));
        assert!(!is_token("") && !is_token("eu.1") && !is_token("eu*") && !is_token("é"));
    }
}
