//! System events: what the platform itself emits (`sendrealm.*`), through an internal
//! path that never touches the public API.
//!
//! A system event is written to the outbox in the same transaction as its cause (a new
//! contact), then published to the events stream by [`flush`], so it is emitted once per
//! cause even if the aggregator stops between commit and publish: the outbox row stays
//! until JetStream acknowledges it, and its `Nats-Msg-Id` makes a re-publish harmless.

use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};
use sendrealm_common::event::{Event, EventObject, Source, Timestamp};
use sendrealm_common::policy::SECS_PER_DAY;
use sendrealm_common::subjects::{self, NATS_TTL};

use crate::store::{OutboxRow, Store, StoreError};

/// Name of the event emitted when identity resolution creates a contact.
pub const CONTACT_CREATED: &str = "sendrealm.contact.created";

/// Builds system events for this aggregator.
#[derive(Debug, Clone)]
pub struct SystemEvents {
    /// Subject prefix of the events stream.
    pub subject_prefix: String,
    /// Region stamped on system events.
    pub region: String,
}

impl SystemEvents {
    /// The `sendrealm.contact.created` event for a contact created by `cause_event_id`.
    pub fn contact_created(
        &self,
        project_id: &str,
        contact_id: &str,
        external_id: Option<&str>,
        email: Option<&str>,
        cause_event_id: &str,
        now: i64,
    ) -> OutboxRow {
        let key = format!("contact.created:{contact_id}");
        let payload =
            serde_json::json!({"contact_id": contact_id, "created_by_event": cause_event_id});
        let event = Event {
            id: sendrealm_common::id::event_id_for_key(project_id, &key),
            object: EventObject::Event,
            project_id: project_id.to_owned(),
            event: CONTACT_CREATED.to_owned(),
            contact_id: Some(contact_id.to_owned()),
            external_id: external_id.map(str::to_owned),
            email: email.map(str::to_owned),
            payload: serde_json::value::to_raw_value(&payload)
                .unwrap_or_else(|_| sendrealm_common::event::empty_payload()),
            occurred_at: Timestamp::from_unix_millis(now),
            received_at: Timestamp::from_unix_millis(now),
            idempotency_key: Some(key),
            source: Source::System,
            region: self.region.clone(),
        };
        OutboxRow {
            id: event.id.clone(),
            project_id: project_id.to_owned(),
            subject: subjects::event_subject(&self.subject_prefix, project_id, CONTACT_CREATED),
            msg_id: event.msg_id(),
            payload: String::from_utf8(event.to_json()).unwrap_or_default(),
            created_at: now,
        }
    }
}

/// Why the outbox could not be flushed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    /// Reading or clearing the outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// JetStream did not acknowledge.
    #[error("publishing a system event failed: {0}")]
    Publish(String),
}

/// Rows published per round.
const FLUSH_BATCH: i64 = 500;

/// Publishes pending system events; returns how many were published.
pub async fn flush<S: Store>(store: &S, js: &jetstream::Context) -> Result<usize, FlushError> {
    let mut total = 0;
    loop {
        let rows = store.outbox(FLUSH_BATCH).await?;
        if rows.is_empty() {
            return Ok(total);
        }
        // Retention of each project once per round, not once per row.
        let mut ttls: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut acks = Vec::with_capacity(rows.len());
        for row in &rows {
            let ttl = match ttls.get(&row.project_id) {
                Some(ttl) => *ttl,
                None => {
                    let ttl = store
                        .project(&row.project_id)
                        .await?
                        .map(|p| p.retention_secs.max(1) as u64)
                        .unwrap_or(90 * SECS_PER_DAY);
                    ttls.insert(row.project_id.clone(), ttl);
                    ttl
                }
            };
            let message = PublishMessage::build()
                .payload(row.payload.clone().into())
                .message_id(&row.msg_id)
                .header(NATS_TTL, ttl.to_string().as_str());
            // Enqueue every publish of the round, then await the acks together.
            let ack = js
                .send_publish(row.subject.clone(), message)
                .await
                .map_err(|e| FlushError::Publish(e.to_string()))?;
            acks.push(ack.into_future());
        }
        for result in futures::future::join_all(acks).await {
            result.map_err(|e| FlushError::Publish(e.to_string()))?;
        }
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        store.delete_outbox(&ids).await?;
        total += rows.len();
        if (rows.len() as i64) < FLUSH_BATCH {
            return Ok(total);
        }
    }
}

/// How often the outbox is flushed when nobody asks.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);
