//! Writing consumed batches: identities, duplicates, conflicts, system events.

use sendrealm_aggregator::config::DatabaseConfig;
use sendrealm_aggregator::plan::WriteOutcome;
use sendrealm_aggregator::store::{EventFilter, Store, StoreError};
use sendrealm_common::event::Event;
use uuid::Uuid;

use crate::support::{Backend, contact_of, incoming, on_both, store_batch, with_project};

const P: &str = "proj_a";

fn outbox_names(rows: &[sendrealm_aggregator::store::OutboxRow]) -> Vec<String> {
    rows.iter()
        .map(|r| Event::from_json(r.payload.as_bytes()).unwrap().event)
        .collect()
}

async fn identities_link_into_one_contact_and_redeliveries_write_nothing(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    let first = incoming(
        P,
        "user.signed_up",
        (None, None, Some("olivia@example.com")),
    );
    let outcomes = store_batch(store, std::slice::from_ref(&first)).await;
    let contact = contact_of(&outcomes[0]).unwrap();
    assert_eq!(
        store
            .contact_for(P, "email", "olivia@example.com")
            .await
            .unwrap(),
        Some(contact)
    );
    let row = store.contact(contact).await.unwrap().unwrap();
    assert_eq!(row.project_id, P);

    // Email + external id: attaches, links the external id, announces the update.
    let linked = incoming(
        P,
        "user.linked",
        (None, Some("cust_42"), Some("olivia@example.com")),
    );
    let by_contact = incoming(P, "order.completed", (Some(contact), None, None));
    let outcomes = store_batch(store, &[linked.clone(), by_contact]).await;
    assert_eq!(contact_of(&outcomes[0]), Some(contact));
    assert_eq!(contact_of(&outcomes[1]), Some(contact));
    let kinds: Vec<String> = store
        .identifiers(contact)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.kind)
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(
        outbox_names(&store.outbox(10).await.unwrap()),
        ["sendrealm.contact.created", "sendrealm.contact.updated"]
    );

    // A redelivery: duplicate, and nothing new in any table.
    let outcomes = store_batch(store, &[first, linked]).await;
    assert_eq!(outcomes, [WriteOutcome::Duplicate, WriteOutcome::Duplicate]);
    assert_eq!(store.outbox(10).await.unwrap().len(), 2);
    let all = store
        .events(&EventFilter {
            project_id: Some(P.into()),
            limit: 100,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|e| e.contact_id == Some(contact)));
}

on_both!(
    identities_link_into_one_contact_and_redeliveries_write_nothing,
    super::identities_link_into_one_contact_and_redeliveries_write_nothing
);

async fn unknown_contact_ids_are_stored_unresolved_and_conflicts_recorded(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    let nobody = Uuid::now_v7();
    let unresolved = incoming(P, "a.b", (Some(nobody), None, None));
    let outcomes = store_batch(store, std::slice::from_ref(&unresolved)).await;
    assert_eq!(outcomes, [WriteOutcome::Stored { contact_id: None }]);
    let row = store.event(unresolved.id).await.unwrap().unwrap();
    assert_eq!((row.contact_id, row.sent_contact_id), (None, Some(nobody)));
    assert!(store.contact(nobody).await.unwrap().is_none());

    // Two contacts, then an event naming one by external id and the other by email.
    let x =
        contact_of(&store_batch(store, &[incoming(P, "a.b", (None, Some("x1"), None))]).await[0]);
    let e = contact_of(
        &store_batch(store, &[incoming(P, "a.b", (None, None, Some("e@x.co")))]).await[0],
    );
    let both = incoming(P, "a.b", (None, Some("x1"), Some("e@x.co")));
    let outcomes = store_batch(store, std::slice::from_ref(&both)).await;
    assert_eq!(contact_of(&outcomes[0]), x, "external_id wins over email");
    assert_eq!(
        store.contact_for(P, "email", "e@x.co").await.unwrap(),
        e,
        "the email keeps its contact"
    );
    let conflicts = count(&fresh, "SELECT count(*) FROM identity_conflicts").await;
    assert_eq!(conflicts, 1);
    // Redelivered: the conflict is not recorded twice.
    store_batch(store, &[both]).await;
    assert_eq!(
        count(&fresh, "SELECT count(*) FROM identity_conflicts").await,
        1
    );
}

on_both!(
    unknown_contact_ids_are_stored_unresolved_and_conflicts_recorded,
    super::unknown_contact_ids_are_stored_unresolved_and_conflicts_recorded
);

async fn count(fresh: &crate::support::Fresh, sql: &'static str) -> i64 {
    sendrealm_e2e::db::count(&fresh.url, sql, &[]).await
}

async fn large_batches_span_several_statements(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, P).await;
    // More rows than one statement takes, 50 contacts, each created once.
    let events: Vec<_> = (0..2_500)
        .map(|i| {
            let email = format!("u{}@example.com", i % 50);
            incoming(P, "page.viewed", (None, None, Some(email.as_str())))
        })
        .collect();
    let outcomes = store_batch(store, &events).await;
    assert!(outcomes.iter().all(|o| matches!(
        o,
        WriteOutcome::Stored {
            contact_id: Some(_)
        }
    )));
    assert_eq!(count(&fresh, "SELECT count(*) FROM events").await, 2_500);
    assert_eq!(count(&fresh, "SELECT count(*) FROM contacts").await, 50);
    assert_eq!(count(&fresh, "SELECT count(*) FROM outbox").await, 50);
    let again = store_batch(store, &events).await;
    assert!(again.iter().all(|o| *o == WriteOutcome::Duplicate));
    assert_eq!(count(&fresh, "SELECT count(*) FROM events").await, 2_500);
}

on_both!(
    large_batches_span_several_statements,
    super::large_batches_span_several_statements
);

/// Two stores (two aggregators) racing for the same new email create one contact: the
/// loser's write fails on the identifier's unique key (or waits for the winner) and its
/// retry attaches to the winner's contact.
async fn racing_writers_create_one_contact_per_identifier(backend: Backend) {
    let fresh = backend.fresh().await;
    with_project(&fresh.store, P).await;
    let other = Store::open(&fresh.url, &DatabaseConfig::default())
        .await
        .unwrap();
    let events: Vec<_> = (0..20)
        .map(|i| incoming(P, "a.b", (None, None, Some(format!("r{i}@x.co").as_str()))))
        .collect();
    let racer = |store: Store, events: Vec<sendrealm_aggregator::plan::Incoming>| async move {
        loop {
            match try_batch(&store, &events).await {
                Err(StoreError::Conflict { .. }) => continue,
                other => return other.unwrap(),
            }
        }
    };
    let mut reversed = events.clone();
    reversed.reverse();
    let (a, b) = tokio::join!(
        racer(fresh.store.clone(), events.clone()),
        racer(other.clone(), reversed)
    );
    assert_eq!(a.len() + b.len(), 40);
    assert_eq!(count(&fresh, "SELECT count(*) FROM contacts").await, 20);
    assert_eq!(count(&fresh, "SELECT count(*) FROM events").await, 20);
    other.close().await;
}

async fn try_batch(
    store: &Store,
    events: &[sendrealm_aggregator::plan::Incoming],
) -> Result<Vec<WriteOutcome>, StoreError> {
    use sendrealm_aggregator::plan;
    let system = sendrealm_aggregator::system_events::SystemEvents {
        subject_prefix: "sendrealm.events".into(),
        region: "central".into(),
    };
    let written = store
        .write_batch(&plan::lookups(events), 1, |found| {
            plan::plan_batch(events, found, &system, 1)
        })
        .await?;
    Ok(plan::settle(events, written.decided, &written.inserted))
}

on_both!(
    racing_writers_create_one_contact_per_identifier,
    super::racing_writers_create_one_contact_per_identifier
);
