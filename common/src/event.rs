//! The ingest request and the event object that is published, stored and returned.
//!
//! The event object is serialised once by the agent: the same bytes are the JetStream
//! message body and the HTTP `202` body, so what a client sees is exactly what was stored.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::identity::IdentityKind;

/// A point in time with millisecond precision, written as RFC 3339 in UTC
/// (`2026-06-08T14:15:00.000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    /// The current time.
    pub fn now() -> Self {
        Self::from(OffsetDateTime::now_utc())
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 with an explicit offset (`Z` or `±hh:mm`); sub-millisecond digits
    /// are truncated.
    pub fn parse_rfc3339(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from)
    }

    /// This time shifted by a number of milliseconds.
    pub const fn plus_millis(self, millis: i64) -> Self {
        Timestamp(self.0.saturating_add(millis))
    }

    /// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn to_rfc3339(self) -> String {
        let bytes = self.rfc3339_bytes();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The RFC 3339 text as fixed-size bytes (24, no allocation: this runs for every
    /// event on the ingest path). Years outside 0–9999 are clamped.
    pub fn rfc3339_bytes(self) -> [u8; 24] {
        let dt = self.to_offset_date_time();
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (0..width).rev() {
                out[at + i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, dt.year().clamp(0, 9999) as u32);
        put(5, 2, u32::from(u8::from(dt.month())));
        put(8, 2, u32::from(dt.day()));
        put(11, 2, u32::from(dt.hour()));
        put(14, 2, u32::from(dt.minute()));
        put(17, 2, u32::from(dt.second()));
        put(20, 3, u32::from(dt.millisecond()));
        out
    }

    fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(dt: OffsetDateTime) -> Self {
        let millis = dt.unix_timestamp_nanos().div_euclid(1_000_000);
        Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.rfc3339_bytes();
        // Digits and ASCII punctuation only: always UTF-8.
        serializer.serialize_str(std::str::from_utf8(&bytes).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(D::Error::custom)
    }
}

/// The body of `POST /events` (and each item of a batch), before validation.
///
/// Unknown fields are refused so that a typo (`"emial"`) is an error, not a silent loss.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// The event name, e.g. `order.completed`.
    pub event: String,
    /// The platform's contact id.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The customer's own id for the contact.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The contact's email address (normalised before use).
    #[serde(default)]
    pub email: Option<String>,
    /// Arbitrary JSON object; kept as the raw text the client sent.
    #[serde(default)]
    pub payload: Option<Box<RawValue>>,
    /// When the event happened (RFC 3339 with offset); defaults to receipt time.
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// Makes retries safe: the same key in one project always yields the same event.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Who produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A customer, through the public events API.
    Api,
    /// The platform itself (`sendrealm.*` events), through the internal publish path.
    System,
}

impl Source {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::System => "system",
        }
    }
}

/// The `object` tag of an event body; always `"event"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EventObject {
    /// The only value.
    #[default]
    #[serde(rename = "event")]
    Event,
}

/// An accepted event: the JetStream message body, the `data` of the `202` body and the
/// stored row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// A UUID; name-based from the idempotency key when there is one (see [`crate::id`]).
    pub id: String,
    /// Always `"event"`.
    #[serde(default)]
    pub object: EventObject,
    /// The project the event belongs to.
    pub project_id: String,
    /// The validated event name.
    pub event: String,
    /// The platform contact id, as sent.
    pub contact_id: Option<String>,
    /// The customer's contact id, as sent (trimmed).
    pub external_id: Option<String>,
    /// The normalised email.
    pub email: Option<String>,
    /// The payload object, byte for byte as the client sent it.
    pub payload: Box<RawValue>,
    /// When the event happened.
    pub occurred_at: Timestamp,
    /// When the agent received it; retention counts from here.
    pub received_at: Timestamp,
    /// The client's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// Who produced it.
    pub source: Source,
    /// The region (agent) that accepted it.
    pub region: String,
}

impl Event {
    /// Serialises the event object to JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings, numbers and a RawValue into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an event object back from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The identifier that wins the resolution order (`contact_id` → `external_id` →
    /// `email`), with its normalised value.
    pub fn resolved_identity(&self) -> Option<(IdentityKind, &str)> {
        resolved_identity(
            self.contact_id.as_deref(),
            self.external_id.as_deref(),
            self.email.as_deref(),
        )
    }

    /// Rewrites ids written by earlier releases (`evt_…`, `ct_…`) in canonical UUID form,
    /// so messages and records made before the upgrade read like new ones.
    pub fn normalize_legacy_ids(&mut self) {
        if let Some(id) = crate::id::parse_event_id(&self.id) {
            self.id = id;
        }
        if let Some(contact) = self
            .contact_id
            .as_deref()
            .and_then(crate::id::parse_contact_id)
        {
            self.contact_id = Some(contact);
        }
    }

    /// The JetStream `Nats-Msg-Id` of this event: `project_id:idempotency_key` when a key
    /// was given, the event id otherwise, so any retry of the same publish is deduplicated.
    pub fn msg_id(&self) -> String {
        crate::id::msg_id(&self.project_id, self.idempotency_key.as_deref(), &self.id)
    }
}

/// The first present of `contact_id`, `external_id` and `email`: the identifier that
/// decides which contact an event belongs to.
pub fn resolved_identity<'a>(
    contact_id: Option<&'a str>,
    external_id: Option<&'a str>,
    email: Option<&'a str>,
) -> Option<(IdentityKind, &'a str)> {
    contact_id
        .map(|v| (IdentityKind::ContactId, v))
        .or(external_id.map(|v| (IdentityKind::ExternalId, v)))
        .or(email.map(|v| (IdentityKind::Email, v)))
}

/// The `data` object of an answer: an event object's JSON with the documented
/// `resolved_identity_type`, `resolved_identity_value` and (on ingest answers)
/// `deduplicated` appended. The event bytes are spliced in as they are: the agent
/// serialises an event once, for the stream and the answer alike.
pub fn data_json(
    event_json: &[u8],
    resolved: Option<(IdentityKind, &str)>,
    deduplicated: Option<bool>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(event_json.len() + 128);
    write_data_json(&mut out, event_json, resolved, deduplicated);
    out
}

/// A success body, `{"data": …}`, around [`data_json`]'s object, written in one pass.
pub fn data_body(
    event_json: &[u8],
    resolved: Option<(IdentityKind, &str)>,
    deduplicated: Option<bool>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(event_json.len() + 136);
    out.extend_from_slice(DATA_OPEN);
    write_data_json(&mut out, event_json, resolved, deduplicated);
    out.push(b'}');
    out
}

/// What opens a success body; [`data_body`]'s `data` object follows it.
pub const DATA_OPEN: &[u8] = br#"{"data":"#;

fn write_data_json(
    out: &mut Vec<u8>,
    event_json: &[u8],
    resolved: Option<(IdentityKind, &str)>,
    deduplicated: Option<bool>,
) {
    // An event object always ends with its closing brace; anything else is passed through.
    let Some(body) = event_json.strip_suffix(b"}") else {
        out.extend_from_slice(event_json);
        return;
    };
    out.extend_from_slice(body);
    if body.iter().rev().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        out.push(b',');
    }
    out.extend_from_slice(br#""resolved_identity_type":"#);
    match resolved {
        Some((kind, value)) => {
            out.push(b'"');
            out.extend_from_slice(kind.as_str().as_bytes());
            out.extend_from_slice(br#"","resolved_identity_value":"#);
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, value);
        }
        None => out.extend_from_slice(br#"null,"resolved_identity_value":null"#),
    }
    if let Some(deduplicated) = deduplicated {
        out.extend_from_slice(if deduplicated {
            br#","deduplicated":true"#.as_slice()
        } else {
            br#","deduplicated":false"#.as_slice()
        });
    }
    out.push(b'}');
}

/// Wraps a `data` object as a success body: `{"data": …}`.
pub fn data_envelope(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 9);
    out.extend_from_slice(DATA_OPEN);
    out.extend_from_slice(data);
    out.push(b'}');
    out
}

/// The empty payload used when a request has none.
pub fn empty_payload() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("`{}` is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_in_utc_with_millis() {
        let ts = Timestamp::parse_rfc3339("2026-06-08T16:15:00.123456+02:00").unwrap();
        assert_eq!(ts.to_rfc3339(), "2026-06-08T14:15:00.123Z");
        assert!(Timestamp::parse_rfc3339("2026-06-08T14:15:00").is_err());
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn event_round_trips_with_raw_payload() {
        let event = Event {
            id: "0190b0a0-0000-7000-8000-000000000001".into(),
            object: EventObject::Event,
            project_id: "proj_1".into(),
            event: "order.completed".into(),
            contact_id: None,
            external_id: None,
            email: Some("olivia@example.com".into()),
            payload: RawValue::from_string(r#"{"b": 1, "a":[2]}"#.into()).unwrap(),
            occurred_at: Timestamp::from_unix_millis(0),
            received_at: Timestamp::from_unix_millis(1),
            idempotency_key: Some("k".into()),
            source: Source::Api,
            region: "eu".into(),
        };
        let json = String::from_utf8(event.to_json()).unwrap();
        assert!(json.contains(r#""object":"event""#), "{json}");
        assert!(json.contains(r#""payload":{"b": 1, "a":[2]}"#), "{json}");
        assert!(json.contains(r#""occurred_at":"1970-01-01T00:00:00.000Z""#));
        let back = Event::from_json(json.as_bytes()).unwrap();
        assert_eq!(back.payload.get(), event.payload.get());
        assert_eq!(back.msg_id(), "proj_1:k");
    }

    #[test]
    fn data_adds_the_resolved_identity_and_dedupe_flag() {
        let json = br#"{"id":"x","email":"a@b.co"}"#;
        let data = data_json(json, Some((IdentityKind::Email, "a@b.co")), Some(true));
        let value: serde_json::Value = serde_json::from_slice(&data_envelope(&data)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"data": {"id": "x", "email": "a@b.co",
                "resolved_identity_type": "email", "resolved_identity_value": "a@b.co",
                "deduplicated": true}})
        );
        let data = data_json(b"{}", None, None);
        let value: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert!(value["resolved_identity_type"].is_null());
        assert!(value.get("deduplicated").is_none());
    }

    #[test]
    fn contact_id_wins_then_external_id_then_email() {
        assert_eq!(
            resolved_identity(Some("c"), Some("x"), Some("e")),
            Some((IdentityKind::ContactId, "c"))
        );
        assert_eq!(
            resolved_identity(None, Some("x"), Some("e")),
            Some((IdentityKind::ExternalId, "x"))
        );
        assert_eq!(
            resolved_identity(None, None, Some("e")),
            Some((IdentityKind::Email, "e"))
        );
        assert_eq!(resolved_identity(None, None, None), None);
    }
}
