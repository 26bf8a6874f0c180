//! Waits in the store: registration, the queue the write path fills, candidates, the look
//! back, and transitions that happen once.

use sendrealm_aggregator::store::Transition;
use sendrealm_aggregator::{wait_matcher, waits};
use sendrealm_common::event::Timestamp;
use serde_json::json;

use crate::support::{
    Backend, contact_of, incoming, on_both, store_batch, with_payload, with_project,
};

const P: &str = "proj_w";

fn register(
    id: &str,
    email: &str,
    event: &str,
    after: i64,
    timeout: i64,
) -> sendrealm_aggregator::store::WaitRow {
    let body = json!({"id": id, "project_id": P, "waiting_for_event_name": event,
        "email": email, "match": {"payload.currency": "USD"},
        "after": Timestamp::from_unix_millis(after).to_rfc3339(),
        "timeout_at": Timestamp::from_unix_millis(timeout).to_rfc3339()});
    waits::parse(body.to_string().as_bytes())
        .unwrap()
        .into_row(Timestamp::now().unix_millis(), 90 * 86_400_000)
        .unwrap()
}

async fn waits_resolve_once_from_the_queue_the_look_back_or_the_timer(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    let now = Timestamp::now().unix_millis();

    // Registration is idempotent by id.
    let by_queue = register(
        "w-queue",
        "ann@example.com",
        "order.completed",
        now - 60_000,
        now + 3_600_000,
    );
    assert!(store.insert_wait(&by_queue).await.unwrap());
    assert!(!store.insert_wait(&by_queue).await.unwrap());
    assert_eq!(store.wait("w-queue").await.unwrap(), Some(by_queue.clone()));
    assert_eq!(store.open_wait_count(P).await.unwrap(), 1);
    assert!(store.any_open_wait().await.unwrap());
    assert_eq!(
        store
            .open_waits_for(P, "order.completed", &["ann@example.com".to_owned()])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .open_waits_for(P, "other.event", &["ann@example.com".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .open_waits_for(P, "order.completed", &["bob@example.com".to_owned()])
            .await
            .unwrap()
            .is_empty(),
        "another contact's identifier finds nothing"
    );

    // Stored events are queued for matching by the write path; a non-matching payload
    // first, then a matching one.
    let eur = with_payload(
        incoming(P, "order.completed", (None, None, Some("ann@example.com"))),
        json!({"currency": "EUR"}),
    );
    let usd = with_payload(
        incoming(P, "order.completed", (None, None, Some("ann@example.com"))),
        json!({"currency": "USD"}),
    );
    let outcomes = store_batch(store, &[eur, usd.clone()]).await;
    let contact = contact_of(&outcomes[0]).expect("a contact");
    let queued = store.wait_queue(10).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].1.len(), 2);
    let candidates = store.wait_candidates(&queued[0].1).await.unwrap();
    assert_eq!(candidates.len(), 2);
    assert!(candidates.iter().all(|c| c.contact_id == Some(contact)));

    assert_eq!(
        wait_matcher::match_pass(store, now).await.unwrap().resolved,
        1
    );
    let resolved = store.wait("w-queue").await.unwrap().unwrap();
    assert_eq!(resolved.status, waits::RECEIVED);
    assert_eq!(resolved.event_id.as_deref(), Some(usd.event.id.as_str()));
    assert!(
        store.wait_queue(10).await.unwrap().is_empty(),
        "the queue row is gone"
    );
    let outbox = store.outbox(10).await.unwrap();
    let wait_outcomes: Vec<_> = outbox
        .iter()
        .filter(|o| o.msg_id == "wait:w-queue")
        .collect();
    assert_eq!(wait_outcomes.len(), 1);
    assert_eq!(
        wait_outcomes[0].subject,
        format!("sendrealm.waits.{P}.received")
    );

    // A second transition of a resolved wait loses and writes nothing.
    let again = waits::timed_out(&resolved, now);
    let won = store
        .resolve_waits(
            &[Transition {
                outcome: Some(waits::outcome(&again, now)),
                wait: again,
            }],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(won, [false]);
    assert_eq!(
        store.wait("w-queue").await.unwrap().unwrap().status,
        waits::RECEIVED
    );

    // The look back finds an event stored before the wait.
    let late = register(
        "w-back",
        "ann@example.com",
        "order.completed",
        now - 60_000,
        now + 3_600_000,
    );
    assert!(store.insert_wait(&late).await.unwrap());
    let found = store
        .contact_events(P, contact, "order.completed", now - 60_000, now + 3_600_000)
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    let back = wait_matcher::look_back(store, &late, now).await.unwrap();
    assert_eq!(back.status, waits::RECEIVED);
    assert_eq!(back.event_id.as_deref(), Some(usd.event.id.as_str()));

    // The timer resolves what is due (past the grace), once.
    let due = register(
        "w-due",
        "bob@example.com",
        "order.completed",
        now - 60_000,
        now - 5_000,
    );
    assert!(store.insert_wait(&due).await.unwrap());
    assert_eq!(store.due_waits(now, 10).await.unwrap().len(), 1);
    assert_eq!(wait_matcher::timeout_pass(store, now).await.unwrap(), 1);
    assert_eq!(wait_matcher::timeout_pass(store, now).await.unwrap(), 0);
    assert_eq!(
        store.wait("w-due").await.unwrap().unwrap().status,
        waits::TIMED_OUT
    );
    assert!(!store.any_open_wait().await.unwrap());

    // With no open wait, queued batches are dropped without reading their events.
    store_batch(
        store,
        &[incoming(
            P,
            "order.completed",
            (None, None, Some("cy@example.com")),
        )],
    )
    .await;
    assert_eq!(
        wait_matcher::match_pass(store, now).await.unwrap().resolved,
        0
    );
    assert!(store.wait_queue(10).await.unwrap().is_empty());

    // Retention removes waits registered before the cut.
    assert_eq!(
        store
            .purge_waits(P, Timestamp::now().unix_millis() + 1)
            .await
            .unwrap(),
        3
    );
    assert_eq!(store.wait("w-queue").await.unwrap(), None);
    store.close().await;
}

on_both!(
    waits_resolve_once_from_the_queue_the_look_back_or_the_timer,
    super::waits_resolve_once_from_the_queue_the_look_back_or_the_timer
);
