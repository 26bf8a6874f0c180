//! The project policy: what the aggregator owns and publishes, and agents enforce.
//!
//! Policies travel as JSON values in a JetStream KV bucket keyed by project id, so a change
//! reaches every agent without a restart.

use serde::{Deserialize, Serialize};

/// Default `event_payload_limit_bytes` of a new project.
pub const DEFAULT_PAYLOAD_LIMIT_BYTES: u32 = 32 * 1024;
/// Largest payload limit a project may have: a whole event must fit in one NATS message
/// (1 MiB by default) with room for the envelope.
pub const MAX_PAYLOAD_LIMIT_BYTES: u32 = 512 * 1024;
/// Default sustained rate limit, events per second.
pub const DEFAULT_RATE_LIMIT_PER_SEC: u32 = 100;
/// Default burst, events.
pub const DEFAULT_RATE_LIMIT_BURST: u32 = 200;
/// Default retention of a new project, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// Seconds in a day, for retention arithmetic.
pub const SECS_PER_DAY: u64 = 86_400;
/// Prefix of every project id.
pub const PROJECT_ID_PREFIX: &str = "proj_";

/// A project's policy as published to agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPolicy {
    /// The project id (`proj_…`).
    pub project_id: String,
    /// Human name.
    pub name: String,
    /// Largest accepted `payload`, in bytes of JSON as sent.
    pub event_payload_limit_bytes: u32,
    /// Sustained events per second.
    pub rate_limit_per_sec: u32,
    /// Events allowed in a burst above the sustained rate.
    pub rate_limit_burst: u32,
    /// How long events are kept, counted from receipt, in seconds.
    pub retention_secs: u64,
    /// SHA-256 (hex) of every active API key.
    pub api_key_hashes: Vec<String>,
}

impl ProjectPolicy {
    /// Serialises for the KV bucket.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a policy from the KV bucket.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Whether a string is a well-formed project id: the prefix, then 1–40 of `a-z0-9`.
///
/// Project ids become NATS subject tokens and KV keys, so the alphabet is narrow on purpose.
pub fn is_valid_project_id(id: &str) -> bool {
    id.strip_prefix(PROJECT_ID_PREFIX).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 40
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_are_subject_safe() {
        assert!(is_valid_project_id("proj_0a1b2c"));
        assert!(!is_valid_project_id("proj_"));
        assert!(!is_valid_project_id("proj_a.b"));
        assert!(!is_valid_project_id("proj_A"));
        assert!(!is_valid_project_id("p_abc"));
    }

    #[test]
    fn policy_round_trips() {
        let policy = ProjectPolicy {
            project_id: "proj_1".into(),
            name: "Demo".into(),
            event_payload_limit_bytes: DEFAULT_PAYLOAD_LIMIT_BYTES,
            rate_limit_per_sec: DEFAULT_RATE_LIMIT_PER_SEC,
            rate_limit_burst: DEFAULT_RATE_LIMIT_BURST,
            retention_secs: u64::from(DEFAULT_RETENTION_DAYS) * SECS_PER_DAY,
            api_key_hashes: vec!["ab".into()],
        };
        assert_eq!(ProjectPolicy::from_json(&policy.to_json()).unwrap(), policy);
    }
}
