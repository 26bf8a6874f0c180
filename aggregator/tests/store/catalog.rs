//! The event catalog as stored: entries kept with the batches that store events, lists
//! and their filters, owner decisions, retention of examples.

use sendrealm_aggregator::catalog::fold;
use sendrealm_aggregator::catalog::fold::Key;
use sendrealm_aggregator::catalog::{FlagStatus, Limits};
use sendrealm_aggregator::store::{CatalogFilter, Store};
use serde_json::json;

use crate::support::{
    Backend, fold_catalog, incoming, on_both, store_batch, with_payload, with_project,
};

const P: &str = "proj_a";

fn key(event: &str, source: &str) -> Key {
    Key {
        project_id: P.into(),
        event: event.into(),
        source: source.into(),
    }
}

fn filter() -> CatalogFilter {
    CatalogFilter {
        project_id: Some(P.into()),
        limit: 100,
        ..CatalogFilter::default()
    }
}

async fn names(store: &Store, filter: &CatalogFilter) -> Vec<(String, String)> {
    store
        .catalog(filter)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.key.event, r.key.source))
        .collect()
}

async fn entries_count_each_stored_event_once(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    let batch: Vec<_> = (0..3)
        .map(|i| {
            with_payload(
                incoming(P, "order.completed", (None, Some("cust_1"), None)),
                json!({"amount": i, "currency": "EUR", "items": [{"sku": "a-1"}]}),
            )
        })
        .chain([incoming(
            P,
            "cart.viewed",
            (None, None, Some("ann@example.com")),
        )])
        .collect();
    store_batch(store, &batch).await;
    fold_catalog(store).await;
    // A redelivery of the same batch stores nothing, and counts nothing.
    store_batch(store, &batch).await;
    fold_catalog(store).await;

    let order = store
        .catalog_entry(&key("order.completed", "api"))
        .await
        .unwrap()
        .expect("entry");
    assert_eq!(order.count, 3);
    assert!(order.first_seen_at <= order.last_seen_at);
    let detail = order.entry.detail_json();
    let paths: Vec<&str> = detail["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for path in ["payload.amount", "payload.currency", "payload.items[].sku"] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    // Examples are redacted: no value of the payload is kept (payloads only: an event id
    // may contain any hex run).
    let examples: Vec<String> = detail["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"].to_string())
        .collect();
    let examples = examples.join(" ");
    assert!(
        !examples.contains("EUR") && !examples.contains("a-1"),
        "{examples}"
    );

    // The contact created for the email is announced by a system event, catalogued too.
    assert_eq!(
        names(store, &filter()).await,
        [
            ("cart.viewed".to_owned(), "api".to_owned()),
            ("order.completed".to_owned(), "api".to_owned()),
        ],
        "system events reach the catalog when they are consumed, not when queued"
    );
    let system_events = store.outbox(10).await.unwrap();
    assert_eq!(system_events.len(), 2, "contact.created for cust_1 and ann");
}

async fn lists_filter_by_prefix_source_pii_and_page(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    with_project(store, "proj_b").await;
    let batch = vec![
        with_payload(
            incoming(P, "order.completed", (None, Some("c1"), None)),
            json!({"card": "4111 1111 1111 1111"}),
        ),
        incoming(P, "order.refunded", (None, Some("c1"), None)),
        incoming(P, "cart.viewed", (None, Some("c1"), None)),
        incoming("proj_b", "order.completed", (None, Some("c1"), None)),
    ];
    store_batch(store, &batch).await;
    fold_catalog(store).await;

    let mut by_prefix = filter();
    by_prefix.event_prefix = Some("order.".into());
    assert_eq!(names(store, &by_prefix).await.len(), 2);
    let mut likely = filter();
    likely.pii = Some(true);
    assert_eq!(
        names(store, &likely).await,
        [("order.completed".to_owned(), "api".to_owned())]
    );
    let mut clean = filter();
    clean.pii = Some(false);
    assert_eq!(names(store, &clean).await.len(), 2);
    let mut system = filter();
    system.source = Some("system".into());
    assert!(names(store, &system).await.is_empty());

    // Every project, paged two at a time in key order.
    let mut all = CatalogFilter {
        limit: 2,
        ..CatalogFilter::default()
    };
    let first = store.catalog(&all).await.unwrap();
    assert_eq!(first.len(), 2);
    all.after = Some(first[1].key.clone());
    let second = store.catalog(&all).await.unwrap();
    assert_eq!(second.len(), 2);
    assert_eq!(second[1].key.project_id, "proj_b");
    assert!(first.iter().all(|a| second.iter().all(|b| a.key < b.key)));

    // Drift since: nothing drifted yet.
    all.after = None;
    all.drift_since = Some(0);
    assert!(store.catalog(&all).await.unwrap().is_empty());
}

async fn owner_decisions_stick_under_the_row_lock(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    let event = with_payload(
        incoming(P, "user.updated", (None, Some("c1"), None)),
        json!({"contact_email": "ann@example.org"}),
    );
    store_batch(store, &[event]).await;
    fold_catalog(store).await;
    let k = key("user.updated", "api");
    let row = store.catalog_entry(&k).await.unwrap().unwrap();
    assert!(row.pii_likely);

    let dismissed = store
        .catalog_change(&k, 5, |e| {
            e.decide("payload.contact_email", FlagStatus::Dismissed)
                .map(|()| true)
                .map_err(|_| ())
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!dismissed.pii_likely);
    let read = store.catalog_entry(&k).await.unwrap().unwrap();
    assert!(!read.pii_likely);
    assert_eq!(read.entry.pii_json()["flags"][0]["status"], "dismissed");
    let mut clean = filter();
    clean.pii = Some(false);
    assert_eq!(names(store, &clean).await.len(), 1);

    // No flag there, no entry there.
    let none = store
        .catalog_change(&k, 6, |e| {
            e.decide("payload.nope", FlagStatus::Confirmed)
                .map(|()| true)
                .map_err(|_| ())
        })
        .await
        .unwrap();
    assert_eq!(none.map(|r| r.is_err()), Some(true));
    let missing = store
        .catalog_change(&key("never.seen", "api"), 6, |_| Ok(true))
        .await
        .unwrap();
    assert!(missing.is_none());
}

async fn concurrent_batches_add_up_on_one_entry(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    let mut tasks = Vec::new();
    for task in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // One contact per task: identities never race here, only the entry does.
            let contact = format!("c{task}");
            for _ in 0..5 {
                let batch: Vec<_> = (0..10)
                    .map(|_| incoming(P, "page.viewed", (None, Some(&contact), None)))
                    .collect();
                store_batch(&store, &batch).await;
                // Folders of several aggregators race for the same entry.
                fold_catalog(&store).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let row = store
        .catalog_entry(&key("page.viewed", "api"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.count, 200);
}

async fn retention_purges_examples_but_keeps_the_entry(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    store_batch(
        store,
        &[incoming(P, "order.completed", (None, Some("c1"), None))],
    )
    .await;
    fold_catalog(store).await;
    let k = key("order.completed", "api");
    let before = store.catalog_entry(&k).await.unwrap().unwrap();
    assert_eq!(
        before.entry.detail_json()["examples"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Far past the project's one-day retention.
    let later = before.last_seen_at + 2 * 86_400_000;
    sendrealm_aggregator::retention::purge_once(store, 1000, later)
        .await
        .unwrap();
    let after = store.catalog_entry(&k).await.unwrap().unwrap();
    assert!(
        after.entry.detail_json()["examples"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(after.count, 1);
}

async fn a_fold_that_raced_a_decision_writes_nothing(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    let card = || {
        with_payload(
            incoming(P, "order.completed", (None, Some("c1"), None)),
            json!({"card": "4111111111111111"}),
        )
    };
    store_batch(store, &[card()]).await;
    fold_catalog(store).await;
    store_batch(store, &[card(), card()]).await;

    // A folder reads the entry and the queued events…
    let pending = store.catalog_pending(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    let (queue_id, ids) = pending[0].clone();
    let events = store.stored_for_catalog(&ids).await.unwrap();
    assert_eq!(events.len(), 2);
    let groups = fold::group(events);
    let k = key("order.completed", "api");
    let mut states = store.catalog_states(&[&k]).await.unwrap();
    fold::fold(&mut states, &groups, &Limits::default(), 10);
    // …the owner dismisses the flag meanwhile…
    store
        .catalog_change(&k, 5, |e| {
            e.decide("payload.card", FlagStatus::Dismissed)
                .map(|()| true)
                .map_err(|_| ())
        })
        .await
        .unwrap();
    // …so the folder's write is refused, and the events stay queued.
    assert!(
        !store
            .catalog_commit(&[queue_id], &states, 10)
            .await
            .unwrap()
    );
    assert_eq!(store.catalog_pending(10).await.unwrap().len(), 1);
    fold_catalog(store).await;
    let row = store.catalog_entry(&k).await.unwrap().unwrap();
    assert_eq!(row.count, 3);
    assert!(!row.pii_likely, "the decision survived the fold");
    assert!(store.catalog_pending(10).await.unwrap().is_empty());
}

on_both!(entries_count, super::entries_count_each_stored_event_once);
on_both!(
    lists_filter,
    super::lists_filter_by_prefix_source_pii_and_page
);
on_both!(
    owner_decisions,
    super::owner_decisions_stick_under_the_row_lock
);
on_both!(
    concurrent_batches,
    super::concurrent_batches_add_up_on_one_entry
);
on_both!(
    retention_examples,
    super::retention_purges_examples_but_keeps_the_entry
);
on_both!(
    raced_fold,
    super::a_fold_that_raced_a_decision_writes_nothing
);
