//! The internal path for platform services' system events (`sendrealm.mail.delivery`, …).
//!
//! A service (holding a service token) sends an event for a project. It is validated like
//! a customer's event, with the reserved prefix required instead of refused, checked
//! against the registry of known system events and their payload fields, and published to
//! the events stream with source `system`. From there it takes the same road as every
//! event: identity resolution, store, catalog (source `system`), retention, wait matching.
//! The answer comes after JetStream's durable ack, like the agent's.

use async_nats::jetstream::{self, message::PublishMessage};
use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::{Event, Source, Timestamp};
use sendrealm_common::registry;
use sendrealm_common::subjects::{self, NATS_TTL};
use sendrealm_common::validate::{self, EventContext, Invalid};

use crate::store::{Store, StoreError};

/// Why a system event was refused.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// The request is malformed, or the event unknown or incomplete.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No such project.
    #[error("no project {0}")]
    UnknownProject(String),
    /// JetStream did not take it.
    #[error("publishing failed: {0}")]
    Publish(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A system event JetStream holds.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The event as published.
    pub event: Event,
    /// Its JSON, as published.
    pub json: Vec<u8>,
    /// Whether JetStream already held it (same project and idempotency key).
    pub duplicate: bool,
}

/// Where system events go.
#[derive(Debug, Clone)]
pub struct Target {
    /// The events stream's subject prefix.
    pub subject_prefix: String,
    /// The region stamped on the events.
    pub region: String,
}

/// Splits `project_id` off the body: the rest is an ordinary event request.
fn split(body: &[u8]) -> Result<(String, Vec<u8>), Invalid> {
    let mut object: serde_json::Map<String, serde_json::Value> = validate::parse_json(body)?;
    let project_id = match object.remove("project_id") {
        Some(serde_json::Value::String(id)) => id,
        Some(_) => {
            return Err(Invalid::field(
                ErrorCode::InvalidFieldType,
                "project_id",
                "`project_id` is a string",
            ));
        }
        None => {
            return Err(Invalid::field(
                ErrorCode::MissingField,
                "project_id",
                "`project_id` is required: a service sends events for any project",
            ));
        }
    };
    let rest = serde_json::to_vec(&object).unwrap_or_default();
    Ok((project_id, rest))
}

/// Validates a system event for its project and publishes it.
pub async fn accept(
    store: &Store,
    js: &jetstream::Context,
    target: &Target,
    body: &[u8],
) -> Result<Accepted, InternalError> {
    let (project_id, rest) = split(body)?;
    let request = validate::parse_request(&rest)?;
    let project = store
        .project(&project_id)
        .await?
        .ok_or_else(|| InternalError::UnknownProject(project_id.clone()))?;
    let context = EventContext {
        project_id: &project.id,
        payload_limit_bytes: u32::try_from(project.event_payload_limit_bytes).unwrap_or(u32::MAX),
        received_at: Timestamp::now(),
        region: &target.region,
        source: Source::System,
    };
    let event = validate::validate(request, &context)?;
    let payload: serde_json::Value =
        serde_json::from_str(event.payload.get()).unwrap_or(serde_json::Value::Null);
    registry::check(&event.event, &payload)?;

    let json = event.to_json();
    let message = PublishMessage::build()
        .payload(json.clone().into())
        .message_id(event.msg_id())
        .header(NATS_TTL, project.retention_secs.max(1).to_string().as_str());
    let subject = subjects::event_subject(&target.subject_prefix, &project.id, &event.event);
    let ack = js
        .send_publish(subject, message)
        .await
        .map_err(|e| InternalError::Publish(e.to_string()))?
        .await
        .map_err(|e| InternalError::Publish(e.to_string()))?;
    Ok(Accepted {
        json,
        event,
        duplicate: ack.duplicate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_is_split_off_and_required() {
        let (project, rest) =
            split(br#"{"project_id": "proj_a", "event": "sendrealm.mail.open"}"#).unwrap();
        assert_eq!(project, "proj_a");
        assert_eq!(rest, br#"{"event":"sendrealm.mail.open"}"#);
        assert_eq!(
            split(br#"{"event": "x.y"}"#).unwrap_err().code,
            ErrorCode::MissingField
        );
        assert_eq!(
            split(br#"{"project_id": 1}"#).unwrap_err().code,
            ErrorCode::InvalidFieldType
        );
        assert_eq!(
            split(b"{\"a\":").unwrap_err().code,
            ErrorCode::MalformedJson
        );
    }
}
