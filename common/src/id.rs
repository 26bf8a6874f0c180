//! Event and contact ids, and JetStream message ids.
//!
//! Ids are UUIDs in canonical form (`4d978da0-4504-42e3-9d71-e9b9a2f9082d`), as in
//! Sendrealm's published API reference.
//!
//! * With an idempotency key, an event id is name-based: a UUIDv8 over the SHA-256 of
//!   `(project_id, idempotency_key)` (RFC 9562, appendix B.2), so a retry yields the same
//!   id even after the JetStream duplicate window has passed.
//! * Without one it is a UUIDv7: time-ordered, which keeps database inserts local.
//! * Contact ids are UUIDv7.
//!
//! Earlier releases wrote the same 128 bits as `evt_<32 hex>` and `ct_<32 hex>`; those
//! forms are still read everywhere and turned into the canonical one ([`parse_event_id`],
//! [`parse_contact_id`]), so old streams, dead letters and links keep working.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Prefix of event ids written by earlier releases (`evt_<32 hex>`).
pub const LEGACY_EVENT_PREFIX: &str = "evt_";
/// Prefix of contact ids written by earlier releases (`ct_<32 hex>`).
pub const LEGACY_CONTACT_PREFIX: &str = "ct_";

/// The deterministic event id for an idempotency key within a project.
pub fn event_id_for_key(project_id: &str, idempotency_key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(project_id.as_bytes());
    // A separator that can appear in neither part keeps ("ab","c") and ("a","bc") apart.
    hasher.update([0u8]);
    hasher.update(idempotency_key.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    canonical(Uuid::new_v8(bytes))
}

/// A fresh, time-ordered event id.
pub fn new_event_id() -> String {
    canonical(Uuid::now_v7())
}

/// A fresh, time-ordered contact id.
pub fn new_contact_id() -> String {
    canonical(Uuid::now_v7())
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

/// An event id in canonical form: accepts any UUID text and the legacy `evt_<32 hex>`.
pub fn parse_event_id(text: &str) -> Option<String> {
    parse_with_legacy(text, LEGACY_EVENT_PREFIX)
}

/// A contact id in canonical form: accepts any UUID text and the legacy `ct_<32 hex>`.
pub fn parse_contact_id(text: &str) -> Option<String> {
    parse_with_legacy(text, LEGACY_CONTACT_PREFIX)
}

fn parse_with_legacy(text: &str, legacy_prefix: &str) -> Option<String> {
    let text = text.trim();
    let uuid = match text.strip_prefix(legacy_prefix) {
        Some(hex) if hex.len() == 32 => Uuid::try_parse(hex).ok()?,
        Some(_) => return None,
        // Only the hyphenated form (any case): a bare 32-digit number is too easily
        // something else, e.g. an order number.
        None if text.len() == 36 => Uuid::try_parse(text).ok()?,
        None => return None,
    };
    Some(canonical(uuid))
}

/// Lowercase, hyphenated: the one form ids are stored and shown in.
fn canonical(uuid: Uuid) -> String {
    uuid.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
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
        let uuid = Uuid::parse_str(&a).unwrap();
        assert_eq!(uuid.get_version_num(), 8);
        assert_eq!(a, uuid.hyphenated().to_string(), "canonical lowercase form");
    }

    #[test]
    fn fresh_ids_are_time_ordered_v7() {
        let first = new_event_id();
        let second = new_event_id();
        assert!(first < second, "{first} !< {second}");
        assert_eq!(Uuid::parse_str(&first).unwrap().get_version_num(), 7);
        assert_eq!(
            Uuid::parse_str(&new_contact_id())
                .unwrap()
                .get_version_num(),
            7
        );
    }

    #[test]
    fn legacy_ids_read_as_the_same_uuid() {
        let id = event_id_for_key("proj_a", "k");
        let legacy = format!("evt_{}", id.replace('-', ""));
        assert_eq!(parse_event_id(&legacy).as_deref(), Some(id.as_str()));
        assert_eq!(
            parse_event_id(&id.to_uppercase()).as_deref(),
            Some(id.as_str())
        );
        let contact = new_contact_id();
        let legacy = format!("ct_{}", contact.replace('-', ""));
        assert_eq!(parse_contact_id(&legacy).as_deref(), Some(contact.as_str()));
    }

    #[test]
    fn non_uuids_are_not_ids() {
        for bad in ["5", "ct_", "ct_123", "evt_zz", "not-a-uuid", ""] {
            assert_eq!(parse_contact_id(bad), None, "{bad}");
        }
        // 32 bare hex digits is an order number as often as an id.
        assert_eq!(parse_contact_id("0123456789abcdef0123456789abcdef"), None);
        assert_eq!(parse_event_id("ct_0123456789abcdef0123456789abcdef"), None);
    }

    #[test]
    fn msg_id_uses_key_when_present() {
        assert_eq!(msg_id("p", Some("k"), "x"), "p:k");
        assert_eq!(msg_id("p", None, "x"), "x");
    }
}
