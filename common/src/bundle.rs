//! The events stream's message formats, versioned so a reader takes both.
//!
//! * **Format 1**: one event per message, on `<prefix>.<project>.<event name>`, the body
//!   the event object.
//! * **Format 2**, a bundle: several events of one project in one message, on
//!   `<prefix>.<project>._bundle`, the body `{"v":2,"events":[event, …]}`. One message
//!   per several events divides the broker's per-message cost among them. `_bundle` can
//!   never be an event name (names start with a letter), so the two never collide.
//!
//! Each event of a bundle is still a whole event object: the reader checks and stores it
//! on its own, and sets aside an event it cannot store without failing its neighbours.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The last subject token of a bundle.
pub const BUNDLE_TOKEN: &str = "_bundle";
/// Header of an event set aside from a bundle: the reason it cannot be stored. The
/// aggregator republishes such an event alone (format 1) with this header, and dead-letters
/// it on arrival with the reason, so it is recorded and replayable like any other.
pub const SET_ASIDE_HEADER: &str = "Sendrealm-Set-Aside";
/// The last subject token of a set-aside event whose name is not a valid subject token.
pub const INVALID_TOKEN: &str = "_invalid";
/// The format version a bundle's body declares.
pub const BUNDLE_VERSION: u32 = 2;

/// The subject a project's bundles are published on.
pub fn bundle_subject(prefix: &str, project_id: &str) -> String {
    format!("{prefix}.{project_id}.{BUNDLE_TOKEN}")
}

/// The project of a bundle subject, or `None` when `subject` is not one.
pub fn bundle_project<'a>(subject: &'a str, prefix: &str) -> Option<&'a str> {
    subject
        .strip_prefix(prefix)?
        .strip_prefix('.')?
        .strip_suffix(BUNDLE_TOKEN)?
        .strip_suffix('.')
        .filter(|project| !project.is_empty() && !project.contains('.'))
}

/// A bundle's body from the events' JSON objects.
pub fn encode<'a>(events: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::with_capacity(64);
    body.extend_from_slice(format!(r#"{{"v":{BUNDLE_VERSION},"events":["#).as_bytes());
    for (i, event) in events.into_iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.extend_from_slice(b"]}");
    body
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    v: u32,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// Why a bundle's body cannot be read at all (as opposed to one bad event in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not the bundle body.
    #[error("undecodable bundle: {0}")]
    Undecodable(String),
    /// A version this reader does not know.
    #[error("bundle format {0} is not known to this version")]
    UnknownVersion(u32),
    /// No events.
    #[error("empty bundle")]
    Empty,
}

/// The events of a bundle's body, each the raw JSON of one event.
pub fn decode(body: &[u8]) -> Result<Vec<&RawValue>, BundleError> {
    let body: Body<'_> =
        serde_json::from_slice(body).map_err(|e| BundleError::Undecodable(e.to_string()))?;
    if body.v != BUNDLE_VERSION {
        return Err(BundleError::UnknownVersion(body.v));
    }
    if body.events.is_empty() {
        return Err(BundleError::Empty);
    }
    Ok(body.events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_round_trips_its_events_byte_for_byte() {
        let events: [&[u8]; 2] = [br#"{"a":1}"#, br#"{"b":[2,3]}"#];
        let body = encode(events);
        assert_eq!(body, br#"{"v":2,"events":[{"a":1},{"b":[2,3]}]}"#);
        let read: Vec<&str> = decode(&body).unwrap().iter().map(|r| r.get()).collect();
        assert_eq!(read, [r#"{"a":1}"#, r#"{"b":[2,3]}"#]);
    }

    #[test]
    fn subjects_name_the_project() {
        let subject = bundle_subject("sendrealm.events", "proj_1");
        assert_eq!(subject, "sendrealm.events.proj_1._bundle");
        assert_eq!(bundle_project(&subject, "sendrealm.events"), Some("proj_1"));
        for other in [
            "sendrealm.events.proj_1.order.completed",
            "sendrealm.events._bundle",
            "sendrealm.events.a.b._bundle",
            "other.proj_1._bundle",
        ] {
            assert_eq!(bundle_project(other, "sendrealm.events"), None, "{other}");
        }
    }

    #[test]
    fn unreadable_bodies_are_named() {
        assert!(matches!(decode(b"{"), Err(BundleError::Undecodable(_))));
        assert_eq!(
            decode(br#"{"v":3,"events":[{}]}"#).err(),
            Some(BundleError::UnknownVersion(3))
        );
        assert_eq!(
            decode(br#"{"v":2,"events":[]}"#).err(),
            Some(BundleError::Empty)
        );
    }
}
