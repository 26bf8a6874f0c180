//! Reading a consumed message back into events, trusting nothing that can be checked
//! cheaply: the agent validated them, but anything may be published to the stream.
//!
//! A message holds one event (format 1) or a bundle of one project's events (format 2,
//! [`sendrealm_common::bundle`]). An event that fails here is poison: it can never be
//! stored, so it is dead-lettered at once with the reason, never retried; in a bundle, it
//! is set aside alone and its neighbours are stored.

use sendrealm_common::bundle;
use sendrealm_common::event::Event;
use sendrealm_common::id;
use sendrealm_common::policy::is_valid_project_id;
use sendrealm_common::subjects;
use sendrealm_common::validate::check_event_name_for;
use uuid::Uuid;

use crate::plan::Incoming;

/// A message read back.
// Matched as soon as it is made, never stored: boxing the single event would cost an
// allocation per message on the hot path for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Decoded {
    /// Format 1: its event, or why it is poison (the whole message).
    Single(Result<Incoming, String>),
    /// Format 2: each event of the bundle, decoded or why it is poison.
    Bundle(Vec<Result<Incoming, String>>),
}

/// Decodes a message body published on `subject`.
pub fn decode_message(subject: &str, payload: &[u8], prefix: &str) -> Decoded {
    let Some(project) = bundle::bundle_project(subject, prefix) else {
        return Decoded::Single(decode(subject, payload, prefix));
    };
    match bundle::decode(payload) {
        Err(error) => Decoded::Single(Err(error.to_string())),
        Ok(events) => Decoded::Bundle(
            events
                .into_iter()
                .map(|raw| decode_in_bundle(project, raw.get().as_bytes()))
                .collect(),
        ),
    }
}

/// The JSON of the event at `index` of a bundle's body.
pub fn bundled_event(payload: &[u8], index: usize) -> Option<&[u8]> {
    bundle::decode(payload)
        .ok()?
        .get(index)
        .map(|raw| raw.get().as_bytes())
}

/// Decodes one event body published on `subject` (format 1); `Err` holds the poison reason.
pub fn decode(subject: &str, payload: &[u8], prefix: &str) -> Result<Incoming, String> {
    let event = parse(payload)?;
    let expected = subjects::event_subject(prefix, &event.project_id, &event.event);
    if subject != expected {
        return Err(format!(
            "subject {subject} does not match the event (expected {expected})"
        ));
    }
    check(event)
}

/// Decodes one event of a bundle published for `project`.
fn decode_in_bundle(project: &str, payload: &[u8]) -> Result<Incoming, String> {
    let event = parse(payload)?;
    if event.project_id != project {
        return Err(format!(
            "project {:?} in a bundle of project {project}",
            event.project_id
        ));
    }
    check(event)
}

/// Parses an event; checks its project id and name.
fn parse(payload: &[u8]) -> Result<Event, String> {
    let mut event =
        Event::from_json(payload).map_err(|error| format!("undecodable event: {error}"))?;
    // Messages published before ids became UUIDs are stored under the same ids, rewritten.
    event.normalize_legacy_ids();
    if !is_valid_project_id(&event.project_id) {
        return Err(format!("invalid project id {:?}", event.project_id));
    }
    check_event_name_for(&event.event, event.source)
        .map_err(|invalid| format!("invalid event: {}", invalid.message))?;
    Ok(event)
}

/// Checks what the store relies on: ids, identity, payload.
fn check(event: Event) -> Result<Incoming, String> {
    let id = Uuid::try_parse(&event.id)
        .map_err(|_| format!("invalid id {:?}: event ids are UUIDs", event.id))?;
    // The id names the (project, idempotency key) pair: an event claiming a key under
    // another id would slip past the store's one-event-per-key guarantee.
    if let Some(key) = &event.idempotency_key
        && id::event_id_for_key(&event.project_id, key) != event.id
    {
        return Err("invalid id: it does not derive from the idempotency key".into());
    }
    let sent_contact = match &event.contact_id {
        None => None,
        Some(contact) => Some(
            Uuid::try_parse(contact)
                .map_err(|_| format!("invalid contact_id {contact:?}: contact ids are UUIDs"))?,
        ),
    };
    if sent_contact.is_none() && event.external_id.is_none() && event.email.is_none() {
        return Err("invalid identity: no contact_id, external_id or email".into());
    }
    if !event.payload.get().starts_with('{') {
        return Err("invalid payload: not a JSON object".into());
    }
    Ok(Incoming {
        event,
        id,
        sent_contact,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "sendrealm.events";

    fn body(fields: &str) -> String {
        format!(
            r#"{{"object":"event","project_id":"proj_1","event":"order.completed",{fields},
            "payload":{{}},"occurred_at":"2026-06-08T14:15:00.000Z",
            "received_at":"2026-06-08T14:15:00.000Z","source":"api","region":"eu"}}"#
        )
    }

    const SUBJECT: &str = "sendrealm.events.proj_1.order.completed";

    #[test]
    fn a_valid_event_decodes_with_parsed_ids() {
        let key_id = id::event_id_for_key("proj_1", "k1");
        let contact = "c671f89b-3ec1-4c58-9ad2-4ef8c2917cda";
        let text = body(&format!(
            r#""id":"{key_id}","idempotency_key":"k1","contact_id":"{contact}","external_id":null,"email":null"#
        ));
        let incoming = decode(SUBJECT, text.as_bytes(), PREFIX).unwrap();
        assert_eq!(incoming.id.hyphenated().to_string(), key_id);
        assert_eq!(
            incoming
                .sent_contact
                .map(|c| c.hyphenated().to_string())
                .as_deref(),
            Some(contact)
        );
    }

    #[test]
    fn legacy_ids_are_read_in_canonical_form() {
        let key_id = id::event_id_for_key("proj_1", "k1");
        let legacy = format!("evt_{}", key_id.replace('-', ""));
        let text = body(&format!(
            r#""id":"{legacy}","idempotency_key":"k1","contact_id":"ct_c671f89b3ec14c589ad24ef8c2917cda","email":null,"external_id":null"#
        ));
        let incoming = decode(SUBJECT, text.as_bytes(), PREFIX).unwrap();
        assert_eq!(incoming.event.id, key_id);
    }

    #[test]
    fn poison_is_named() {
        let fresh = id::new_event_id();
        let cases = [
            ("{not json".to_owned(), SUBJECT, "undecodable"),
            (
                body(&format!(r#""id":"{fresh}","email":"a@b.co""#)),
                "sendrealm.events.proj_1.other.name",
                "does not match",
            ),
            (
                body(r#""id":"evt_reserved","email":"a@b.co""#),
                SUBJECT,
                "invalid id",
            ),
            (
                body(&format!(
                    r#""id":"{fresh}","idempotency_key":"k","email":"a@b.co""#
                )),
                SUBJECT,
                "idempotency key",
            ),
            (
                body(&format!(r#""id":"{fresh}","contact_id":"5""#)),
                SUBJECT,
                "invalid contact_id",
            ),
            (
                body(&format!(r#""id":"{fresh}","email":null"#)),
                SUBJECT,
                "invalid identity",
            ),
        ];
        for (text, subject, why) in cases {
            let reason = decode(subject, text.as_bytes(), PREFIX).unwrap_err();
            assert!(reason.contains(why), "{reason} should say {why}");
        }
    }

    #[test]
    fn a_bundle_decodes_each_event_on_its_own() {
        let good = body(&format!(
            r#""id":"{}","email":"a@b.co""#,
            id::new_event_id()
        ));
        let bad = body(&format!(
            r#""id":"{}","contact_id":"5""#,
            id::new_event_id()
        ));
        let other = good.replace("proj_1", "proj_2");
        let payload = bundle::encode([good.as_bytes(), bad.as_bytes(), other.as_bytes()]);
        let subject = bundle::bundle_subject(PREFIX, "proj_1");
        let Decoded::Bundle(items) = decode_message(&subject, &payload, PREFIX) else {
            panic!("a bundle");
        };
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok());
        assert_eq!(bundled_event(&payload, 0), Some(good.as_bytes()));
        let reason = items[1].as_ref().err().unwrap();
        assert!(reason.contains("invalid contact_id"), "{reason}");
        let reason = items[2].as_ref().err().unwrap();
        assert!(reason.contains("in a bundle of project proj_1"), "{reason}");
    }

    #[test]
    fn format_one_and_unreadable_bundles_are_single_messages() {
        let good = body(&format!(
            r#""id":"{}","email":"a@b.co""#,
            id::new_event_id()
        ));
        assert!(matches!(
            decode_message(SUBJECT, good.as_bytes(), PREFIX),
            Decoded::Single(Ok(_))
        ));
        let subject = bundle::bundle_subject(PREFIX, "proj_1");
        let Decoded::Single(Err(reason)) = decode_message(&subject, b"[1]", PREFIX) else {
            panic!("an unreadable bundle is poison as a whole");
        };
        assert!(reason.contains("undecodable bundle"), "{reason}");
    }
}
