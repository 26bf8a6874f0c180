//! The stream's message formats side by side: messages of one event (format 1) and
//! bundles of several (format 2) in the same stream drain into the same rows, and an event
//! a bundle cannot store is set aside and dead-lettered alone while its neighbours are
//! stored. An upgrade needs no drain: a stream holding either format is read.

use std::time::Duration;

use futures::StreamExt;

use sendrealm_common::bundle;
use sendrealm_common::id::event_id_for_key;
use sendrealm_common::subjects::{DEFAULT_SUBJECT_PREFIX, event_subject};
use sendrealm_e2e::aggregator::UNLIMITED;
use sendrealm_e2e::db;
use sendrealm_e2e::stack::{Database, Pipeline};
use sendrealm_e2e::wait;
use serde_json::{Value, json};

const STORED: Duration = Duration::from_secs(30);

/// An event object as an agent publishes it.
fn event(project: &str, name: &str, key: &str, identity: Value) -> Value {
    let mut event = json!({
        "object": "event",
        "id": event_id_for_key(project, key),
        "project_id": project,
        "event": name,
        "contact_id": null,
        "external_id": null,
        "email": null,
        "payload": {"key": key},
        "occurred_at": "2026-06-08T14:15:00.000Z",
        "received_at": "2026-06-08T14:15:00.000Z",
        "idempotency_key": key,
        "source": "api",
        "region": "test-1"
    });
    if let (Some(event), Some(identity)) = (event.as_object_mut(), identity.as_object()) {
        event.extend(identity.clone());
    }
    event
}

async fn count(url: &str, name: &str) -> i64 {
    db::count(url, "SELECT count(*) FROM events WHERE event = $1", &[name]).await
}

#[tokio::test]
async fn single_events_and_bundles_drain_alike_and_a_bad_event_is_set_aside_alone() {
    let pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &[]).await;
    let project = pipeline.stack.project.id.clone();
    let url = pipeline.database_url();
    let js = pipeline.stack.nats.jetstream().await;
    let publish = |subject: String, body: Vec<u8>, msg_id: String| {
        let js = js.clone();
        async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", msg_id.as_str());
            js.publish_with_headers(subject, headers, body.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };

    // Format 1, as every agent before bundles wrote it.
    let single = event(
        &project,
        "mixed.sent",
        "single-1",
        json!({"email": "a@example.com"}),
    );
    publish(
        event_subject(DEFAULT_SUBJECT_PREFIX, &project, "mixed.sent"),
        single.to_string().into_bytes(),
        format!("{project}:single-1"),
    )
    .await;
    // Format 2: three good events around one whose contact id names nobody.
    let good: Vec<Value> = (1..=3)
        .map(|i| {
            event(
                &project,
                "mixed.sent",
                &format!("bundled-{i}"),
                json!({"external_id": format!("u{i}")}),
            )
        })
        .collect();
    let poison = event(
        &project,
        "mixed.sent",
        "bundled-bad",
        json!({"contact_id": "5"}),
    );
    let items: Vec<String> = [&good[0], &poison, &good[1], &good[2]]
        .iter()
        .map(|e| e.to_string())
        .collect();
    let body = bundle::encode(items.iter().map(|s| s.as_bytes()));
    publish(
        bundle::bundle_subject(DEFAULT_SUBJECT_PREFIX, &project),
        body.clone(),
        "bundle-1".into(),
    )
    .await;

    wait::until(STORED, "the four good events", || async {
        (count(&url, "mixed.sent").await == 4).then_some(())
    })
    .await;
    let records = wait::until(STORED, "the set-aside event's dead letter", || async {
        let rows = pipeline
            .stack
            .cli
            .json(&["dlq", "list", "--project", &project, "--json"])
            .await;
        let rows = rows.as_array().cloned().unwrap_or_default();
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(records.len(), 1, "only the bad event: {records:?}");
    let record = &records[0];
    assert!(
        record["error"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid contact_id"),
        "{record}"
    );
    assert_eq!(
        record["subject"],
        event_subject(DEFAULT_SUBJECT_PREFIX, &project, "mixed.sent")
    );
    let shown = pipeline
        .stack
        .cli
        .json(&["dlq", "show", record["id"].as_str().unwrap(), "--json"])
        .await;
    let payload: Value =
        serde_json::from_str(shown["payload"].as_str().unwrap_or("null")).unwrap_or_default();
    assert_eq!(payload, poison, "the record holds the bad event alone");

    // The same bundle again (a publish retried under another message id): nothing is
    // stored twice, and the bad event is set aside under the same id, so the broker keeps
    // one copy and it is recorded once.
    publish(
        bundle::bundle_subject(DEFAULT_SUBJECT_PREFIX, &project),
        body,
        "bundle-1-again".into(),
    )
    .await;
    pipeline.drained(STORED).await;
    assert_eq!(count(&url, "mixed.sent").await, 4);
    let keys = db::stored_keys(&url, "mixed.sent").await;
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["bundled-1", "bundled-2", "bundled-3", "single-1"]);
    let records = pipeline
        .stack
        .cli
        .json(&["dlq", "list", "--project", &project, "--json"])
        .await;
    assert_eq!(records.as_array().map(Vec::len), Some(1), "{records}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_messages_each_answered_and_a_resend_gets_the_original() {
    let pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &[]).await;
    let stack = &pipeline.stack;
    let key = stack.project.key.clone();
    // 200 single-event requests at once, 50 in flight at a time.
    let replies: Vec<(usize, sendrealm_e2e::agent::Reply)> = futures::stream::iter(0..200)
        .map(|i| {
            let agent = &stack.agent;
            let key = key.clone();
            async move {
                let body = json!({"event": "shared.sent", "external_id": format!("u{}", i % 7),
                                  "payload": {"i": i}, "idempotency_key": format!("shared-{i}")});
                (i, agent.send_event(&key, &body).await)
            }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    for (i, reply) in &replies {
        assert_eq!(reply.status, 202, "{}", reply.text);
        let data = reply.data();
        assert_eq!(
            data["payload"]["i"], *i as u64,
            "each request its own answer"
        );
        assert_eq!(data["deduplicated"], false);
    }
    // The stream also carries the aggregator's system events: look at ours only.
    let messages: Vec<(String, bytes::Bytes)> = stack
        .stream_messages()
        .await
        .into_iter()
        .filter(|(subject, _)| subject.ends_with("._bundle") || subject.ends_with(".shared.sent"))
        .collect();
    let bundles = messages
        .iter()
        .filter(|(subject, _)| subject.ends_with("._bundle"))
        .count();
    assert!(bundles > 0, "concurrent requests share messages");
    assert!(
        messages.len() < 200,
        "{} messages for 200 events",
        messages.len()
    );
    let events: usize = messages
        .iter()
        .map(|(subject, body)| {
            if subject.ends_with("._bundle") {
                bundle::decode(body).unwrap().len()
            } else {
                1
            }
        })
        .sum();
    assert_eq!(events, 200, "each event in exactly one message");

    // A resend of a key that went out in a bundle: 200 with the original.
    let bundled: Vec<Value> = messages
        .iter()
        .filter(|(subject, _)| subject.ends_with("._bundle"))
        .flat_map(|(_, body)| {
            bundle::decode(body)
                .unwrap()
                .iter()
                .map(|raw| serde_json::from_str::<Value>(raw.get()).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let original = &bundled[bundled.len() / 2];
    let resend = json!({"event": "shared.sent", "external_id": "someone-else",
                        "payload": {"i": -1}, "idempotency_key": original["idempotency_key"]});
    let reply = stack.agent.send_event(&key, &resend).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("idempotent-replayed"), Some("true"));
    let data = reply.data();
    assert_eq!(data["deduplicated"], true);
    assert_eq!(data["id"], original["id"]);
    assert_eq!(
        data["payload"], original["payload"],
        "the original, not the resend"
    );
    let after = stack.stream_messages().await;
    assert!(
        !after
            .iter()
            .any(|(_, body)| String::from_utf8_lossy(body).contains("someone-else")),
        "nothing new published"
    );

    let url = pipeline.database_url();
    wait::until(STORED, "200 stored events", || async {
        (count(&url, "shared.sent").await == 200).then_some(())
    })
    .await;
}
