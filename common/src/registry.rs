//! The registry of system events: the `sendrealm.*` names the platform may emit through
//! the internal path, each with the payload fields it must carry. Anything else is refused
//! there with a clear error; customers can never use the prefix at all.

use crate::error_code::ErrorCode;
use crate::validate::Invalid;

/// A known system event: its name and required payload fields (non-empty strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemEventKind {
    /// `sendrealm.mail.delivery`, …
    pub name: &'static str,
    /// Payload fields it must carry.
    pub required: &'static [&'static str],
}

/// Every system event the platform emits.
pub const REGISTRY: &[SystemEventKind] = &[
    SystemEventKind {
        name: "sendrealm.mail.send",
        required: &["message_id", "template_id"],
    },
    SystemEventKind {
        name: "sendrealm.mail.delivery",
        required: &["message_id", "status"],
    },
    SystemEventKind {
        name: "sendrealm.mail.open",
        required: &["message_id"],
    },
    SystemEventKind {
        name: "sendrealm.push.send",
        required: &["message_id", "template_id"],
    },
    SystemEventKind {
        name: "sendrealm.push.open",
        required: &["message_id"],
    },
    SystemEventKind {
        name: "sendrealm.contact.created",
        required: &["contact_id"],
    },
    SystemEventKind {
        name: "sendrealm.contact.updated",
        required: &["contact_id"],
    },
    SystemEventKind {
        name: "sendrealm.audience.entered",
        required: &["audience_id"],
    },
    SystemEventKind {
        name: "sendrealm.topic.subscribed",
        required: &["topic_id"],
    },
];

/// The registry entry of a name.
pub fn kind(name: &str) -> Option<&'static SystemEventKind> {
    REGISTRY.iter().find(|k| k.name == name)
}

/// Checks a system event's name and payload against the registry.
pub fn check(name: &str, payload: &serde_json::Value) -> Result<(), Invalid> {
    let kind = kind(name).ok_or_else(|| {
        let known: Vec<&str> = REGISTRY.iter().map(|k| k.name).collect();
        Invalid::field(
            ErrorCode::InvalidEventName,
            "event",
            format!(
                "`{name}` is not a known system event; known: {}",
                known.join(", ")
            ),
        )
    })?;
    for field in kind.required {
        let present = payload
            .get(field)
            .and_then(serde_json::Value::as_str)
            .is_some_and(|v| !v.trim().is_empty());
        if !present {
            return Err(Invalid::field(
                ErrorCode::MissingField,
                &format!("payload.{field}"),
                format!("`{name}` needs `payload.{field}` (a non-empty string)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_events_need_their_fields() {
        assert!(
            check(
                "sendrealm.mail.delivery",
                &json!({"message_id": "m1", "status": "delivered"})
            )
            .is_ok()
        );
        let missing = check("sendrealm.mail.delivery", &json!({"message_id": "m1"})).unwrap_err();
        assert_eq!(missing.code, ErrorCode::MissingField);
        assert_eq!(missing.param.as_deref(), Some("payload.status"));
        let blank = check("sendrealm.mail.open", &json!({"message_id": " "})).unwrap_err();
        assert_eq!(blank.code, ErrorCode::MissingField);
        let unknown = check("sendrealm.mail.bounce", &json!({})).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::InvalidEventName);
        assert!(unknown.message.contains("sendrealm.mail.delivery"));
    }

    #[test]
    fn every_registered_name_is_a_valid_reserved_name() {
        for kind in REGISTRY {
            assert!(
                crate::validate::check_event_name_for(kind.name, crate::event::Source::System)
                    .is_ok(),
                "{}",
                kind.name
            );
        }
    }
}
