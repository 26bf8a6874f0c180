//! Event ids and JetStream message ids.
//!
//! With an idempotency key the id is derived from `(project_id, idempotency_key)`, so a
//! retry yields the same id even after the JetStream duplicate window has passed. Without
//! one the id is a UUIDv7: time-ordered, which keeps database inserts local.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Prefix of every event id.
pub const EVENT_ID_PREFIX: &str = "evt_";

/// The deterministic id for an idempotency key within a project.
pub fn event_id_for_key(project_id: &str, idempotency_key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(project_id.as_bytes());
    // A separator that can appear in neither part keeps ("ab","c") and ("a","bc") apart.
    hasher.update([0u8]);
    hasher.update(idempotency_key.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format_id(Uuid::new_v8(bytes))
}

/// A fresh, time-ordered event id.
pub fn new_event_id() -> String {
    format_id(Uuid::now_v7())
}

/// The event id for a request: derived from the key when there is one, fresh otherwise.
pub fn event_id(project_id: &str, idempotency_key: Option<&str>) -> String {
    match idempotency_key {
        Some(key) => event_id_for_key(project_id, key),
        None => new_event_id(),
    }
}

/// The `Nats-Msg-Id` for an event: `project_id:key` with a key, the event id without.
pub fn msg_id(project_id: &str, idempotency_key: Option<&str>, event_id: &str) -> String {
    match idempotency_key {
        Some(key) => format!("{project_id}:{key}"),
        None => event_id.to_owned(),
    }
}

fn format_id(uuid: Uuid) -> String {
    let mut out = String::with_capacity(EVENT_ID_PREFIX.len() + 32);
    out.push_str(EVENT_ID_PREFIX);
    out.push_str(uuid.simple().encode_lower(&mut Uuid::encode_buffer()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_ids_are_deterministic_per_project() {
        let a = event_id_for_key("proj_a", "evt_order_completed_ord_123");
        assert_eq!(a, event_id_for_key("proj_a", "evt_order_completed_ord_123"));
        assert_ne!(a, event_id_for_key("proj_b", "evt_order_completed_ord_123"));
        assert_ne!(event_id_for_key("ab", "c"), event_id_for_key("a", "bc"));
        assert!(a.starts_with(EVENT_ID_PREFIX) && a.len() == 36, "{a}");
    }

    #[test]
    fn fresh_ids_are_time_ordered() {
        let first = new_event_id();
        let second = new_event_id();
        assert!(first < second, "{first} !< {second}");
    }

    #[test]
    fn msg_id_uses_key_when_present() {
        assert_eq!(msg_id("p", Some("k"), "evt_x"), "p:k");
        assert_eq!(msg_id("p", None, "evt_x"), "evt_x");
    }
}
