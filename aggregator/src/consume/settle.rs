//! Settling a message: ack once committed, nak with the backoff's delay when the failure
//! is transient, or dead-letter and terminate when it can never be stored.

use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use sendrealm_common::event::Timestamp;

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;
use sendrealm_common::bundle::{INVALID_TOKEN, SET_ASIDE_HEADER, bundle_project};
use sendrealm_common::event::Event;
use sendrealm_common::subjects::{NATS_TTL, event_subject};
use sendrealm_common::validate::check_event_name_for;

use super::Consumer;
use crate::dlq::record::{self, Original, TERMINATED};

impl Consumer {
    /// Acknowledges a committed (or already stored) message.
    pub(super) async fn ack(&self, message: &Message) {
        if let Ok(info) = message.info()
            && info.delivered > 1
        {
            self.failures.forget(info.stream_sequence);
        }
        if let Err(error) = message.ack().await {
            // The event is committed; a lost ack only means a harmless redelivery.
            tracing::warn!(%error, "Ack failed; the event will be redelivered and deduplicated.");
        }
    }

    /// Asks for a redelivery after the backoff delay of this delivery, remembering why:
    /// a plain NAK would redeliver at once.
    pub(super) async fn nak_with_backoff(&self, message: &Message, error: &str) {
        self.metrics.nacked(1);
        let project = record::project_of(message.subject.as_str(), &self.stream.subject_prefix);
        self.metrics.project(&project, |stats| stats.nacked += 1);
        self.metrics
            .figures
            .count(&project, crate::figures::RETRIED, 1);
        let delivered = match message.info() {
            Ok(info) => {
                self.failures
                    .record(info.stream_sequence, error, Timestamp::now().unix_millis());
                info.delivered.max(1) as usize
            }
            Err(_) => 1,
        };
        let backoff = &self.config.backoff_ms;
        let delay = backoff
            .get(delivered - 1)
            .or(backoff.last())
            .copied()
            .unwrap_or(1_000);
        if let Err(error) = message
            .ack_with(AckKind::Nak(Some(Duration::from_millis(delay))))
            .await
        {
            tracing::warn!(%error, "Nak failed; the ack wait will redeliver.");
        }
    }

    /// Republishes one event of a bundle alone (format 1) with the reason it cannot be
    /// stored; it is dead-lettered on arrival like any poison message, replayable alone.
    /// Its `Nats-Msg-Id` names the bundle and the position, so a redelivered bundle sets it
    /// aside once. `Ok` once JetStream holds it.
    pub(super) async fn set_aside(
        &self,
        bundle: &Message,
        index: usize,
        reason: &str,
    ) -> Result<(), String> {
        let info = bundle.info().map_err(|e| e.to_string())?;
        // Read from the bundle again: only the rare refused event pays for a copy.
        let json = super::decode::bundled_event(&bundle.payload, index)
            .ok_or_else(|| format!("no event {index} in the bundle"))?;
        let prefix = &self.stream.subject_prefix;
        let project = bundle_project(bundle.subject.as_str(), prefix).unwrap_or("_unknown");
        let event = Event::from_json(json).ok();
        // The event's own subject when its name makes one, else a catch-all of the project.
        let subject = event
            .as_ref()
            .filter(|e| e.project_id == project && check_event_name_for(&e.event, e.source).is_ok())
            .map(|e| event_subject(prefix, project, &e.event))
            .unwrap_or_else(|| format!("{prefix}.{project}.{INVALID_TOKEN}"));
        // Named by the event when it has an id, so the same event in a bundle published
        // twice is set aside once; else by its place in this message.
        let msg_id = match &event {
            Some(event) => format!("set-aside:{}:{}", event.project_id, event.id),
            None => format!("set-aside:{}:{}:{index}", info.stream, info.stream_sequence),
        };
        let mut headers = HeaderMap::new();
        // One line, bounded: a reason names the problem, never the payload's values.
        let reason: String = reason
            .replace(['\r', '\n'], " ")
            .chars()
            .take(1000)
            .collect();
        headers.insert(SET_ASIDE_HEADER, reason.as_str());
        if let Some(ttl) = bundle.headers.as_ref().and_then(|h| h.get(NATS_TTL)) {
            headers.insert(NATS_TTL, ttl.clone());
        }
        let publish = PublishMessage::build()
            .payload(bytes::Bytes::copy_from_slice(json))
            .headers(headers)
            .message_id(msg_id);
        self.js
            .send_publish(subject, publish)
            .await
            .map_err(|e| format!("cannot set an event of the bundle aside: {e}"))?
            .await
            .map_err(|e| format!("cannot set an event of the bundle aside: {e}"))?;
        tracing::warn!(subject = %bundle.subject, index, reason, "Event of a bundle set aside to be dead-lettered alone.");
        Ok(())
    }

    /// Dead-letters a poison message, then terminates it with its reason (which also
    /// reaches the advisory). If the record cannot be written yet, the message is retried
    /// later instead: nothing is terminated without a record.
    pub(super) async fn terminate(&self, message: &Message, reason: &str) {
        let Ok(info) = message.info() else {
            tracing::error!(subject = %message.subject, reason, "Message without JetStream metadata; cannot dead-letter it.");
            return;
        };
        let now = Timestamp::now().unix_millis();
        let first = self
            .failures
            .take(info.stream_sequence)
            .map(|f| f.first_at)
            .unwrap_or(now);
        let row = record::build(
            info.stream,
            info.stream_sequence,
            &self.stream.subject_prefix,
            Original {
                subject: message.subject.as_str(),
                headers: message.headers.as_ref(),
                payload: Some(message.payload.as_ref()),
            },
            TERMINATED,
            reason,
            info.delivered,
            first,
            now,
            now,
        );
        match self.store.insert_dead_letter(&row).await {
            Ok(true) => {
                self.metrics.dead_lettered(1);
                self.metrics
                    .figures
                    .count(&row.project_id, crate::figures::DEAD_LETTERED, 1);
                if let Err(error) = record::publish(&self.js, &self.dlq.subject_prefix, &row).await
                {
                    tracing::warn!(%error, id = %row.id, "Dead letter recorded but not copied to the DLQ stream.");
                }
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(%error, "Cannot record a dead letter yet; retrying the message later.");
                self.nak_with_backoff(message, reason).await;
                return;
            }
        }
        self.metrics.terminated(1);
        self.metrics
            .project(&row.project_id, |stats| stats.terminated += 1);
        self.metrics
            .figures
            .count(&row.project_id, crate::figures::TERMINATED, 1);
        // The reason is about the message, never its payload (no values reach the log).
        tracing::warn!(subject = %message.subject, reason, id = %row.id, "Event dead-lettered and terminated.");
        let Some(reply) = message.reply.clone() else {
            return;
        };
        // AckKind::Term has no reason; the server accepts "+TERM <reason>".
        let body = format!("+TERM {}", reason.replace(['\r', '\n'], " "));
        if let Err(error) = self.js.client().publish(reply, body.into()).await {
            tracing::warn!(%error, "Terminate failed; the message will be redelivered (and recorded once).");
        }
    }
}
