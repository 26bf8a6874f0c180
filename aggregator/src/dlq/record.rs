//! Building dead-letter records and copying them to the DLQ stream.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use base64::Engine as _;
use bytes::Bytes;
use sendrealm_common::policy::is_valid_project_id;

use crate::store::DeadLetterRow;

/// Reason of a record made before terminating a message.
pub const TERMINATED: &str = "terminated";
/// Reason of a record made from a `MAX_DELIVERIES` advisory.
pub const MAX_DELIVERIES: &str = "max_deliveries";
/// Project of a record whose original names no readable project.
pub const UNKNOWN_PROJECT: &str = "_unknown";

/// What is known of the original message.
pub struct Original<'a> {
    /// Its subject.
    pub subject: &'a str,
    /// Its headers.
    pub headers: Option<&'a HeaderMap>,
    /// Its body, or `None` when it is gone.
    pub payload: Option<&'a [u8]>,
}

/// The project a message belongs to, from its subject (`<prefix>.<project>.<event>`).
pub fn project_of(subject: &str, prefix: &str) -> String {
    subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.split('.').next())
        .filter(|p| is_valid_project_id(p))
        .unwrap_or(UNKNOWN_PROJECT)
        .to_owned()
}

fn headers_json(headers: Option<&HeaderMap>) -> String {
    let mut object = serde_json::Map::new();
    if let Some(headers) = headers {
        for (name, values) in headers.iter() {
            let values: Vec<serde_json::Value> = values
                .iter()
                .map(|v| serde_json::Value::String(v.to_string()))
                .collect();
            object.insert(name.to_string(), serde_json::Value::Array(values));
        }
    }
    serde_json::Value::Object(object).to_string()
}

/// A new record.
#[allow(clippy::too_many_arguments)]
pub fn build(
    stream: &str,
    stream_seq: u64,
    prefix: &str,
    original: Original<'_>,
    reason: &str,
    error: &str,
    deliveries: i64,
    first_failed_at: i64,
    last_failed_at: i64,
    now: i64,
) -> DeadLetterRow {
    let (payload, payload_base64) = match original.payload {
        None => (None, false),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_owned()), false),
            Err(_) => (
                Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                true,
            ),
        },
    };
    DeadLetterRow {
        id: format!("dlq_{}", uuid::Uuid::now_v7().simple()),
        stream: stream.to_owned(),
        stream_seq: stream_seq as i64,
        project_id: project_of(original.subject, prefix),
        subject: original.subject.to_owned(),
        msg_id: original
            .headers
            .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
            .map(|v| v.to_string()),
        headers: headers_json(original.headers),
        original_missing: original.payload.is_none(),
        payload,
        payload_base64,
        reason: reason.to_owned(),
        error: error.to_owned(),
        deliveries,
        first_failed_at,
        last_failed_at,
        created_at: now,
        replayed_at: None,
        replay_count: 0,
    }
}

/// The original body of a record, decoded.
pub fn payload_bytes(row: &DeadLetterRow) -> Option<Bytes> {
    let payload = row.payload.as_ref()?;
    if row.payload_base64 {
        base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()
            .map(Bytes::from)
    } else {
        Some(Bytes::from(payload.clone().into_bytes()))
    }
}

/// The original headers of a record (for replay), minus those that must not be replayed.
pub fn replay_headers(row: &DeadLetterRow) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let parsed: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&row.headers).unwrap_or_default();
    for (name, values) in parsed {
        // A replay is an attempt to store the event again: not the verdict of a bundle.
        if name.eq_ignore_ascii_case("Nats-Msg-Id")
            || name.starts_with("Nats-Expected")
            || name.eq_ignore_ascii_case(sendrealm_common::bundle::SET_ASIDE_HEADER)
        {
            continue;
        }
        for value in values.as_array().into_iter().flatten() {
            if let Some(value) = value.as_str() {
                headers.append(name.as_str(), value);
            }
        }
    }
    headers
}

/// Copies a record to the DLQ stream (`<prefix>.<project>`), deduplicated per original.
pub async fn publish(
    js: &jetstream::Context,
    dlq_prefix: &str,
    row: &DeadLetterRow,
) -> Result<(), String> {
    let subject = format!("{dlq_prefix}.{}", row.project_id);
    let body = serde_json::json!({
        "id": row.id,
        "stream": row.stream,
        "stream_seq": row.stream_seq,
        "subject": row.subject,
        "msg_id": row.msg_id,
        "reason": row.reason,
        "error": row.error,
        "deliveries": row.deliveries,
        "original_missing": row.original_missing,
        "payload": row.payload,
        "payload_base64": row.payload_base64,
    });
    let message = PublishMessage::build()
        .payload(body.to_string().into())
        .message_id(format!("dlq:{}:{}", row.stream, row.stream_seq))
        .header("Sendrealm-Dlq-Reason", row.reason.as_str());
    js.send_publish(subject, message)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_comes_from_the_subject() {
        assert_eq!(
            project_of(
                "sendrealm.events.proj_ab1.order.completed",
                "sendrealm.events"
            ),
            "proj_ab1"
        );
        assert_eq!(
            project_of("sendrealm.events.BAD.x", "sendrealm.events"),
            UNKNOWN_PROJECT
        );
        assert_eq!(
            project_of("other.proj_1.x", "sendrealm.events"),
            UNKNOWN_PROJECT
        );
    }

    #[test]
    fn binary_payloads_round_trip_as_base64() {
        let row = build(
            "S",
            1,
            "p",
            Original {
                subject: "p.proj_1.a.b",
                headers: None,
                payload: Some(&[0xff, 0x00, 0x41]),
            },
            TERMINATED,
            "bad",
            1,
            0,
            0,
            0,
        );
        assert!(row.payload_base64);
        assert_eq!(payload_bytes(&row).unwrap().as_ref(), &[0xff, 0x00, 0x41]);
    }
}
