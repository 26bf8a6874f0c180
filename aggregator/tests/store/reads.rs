//! Reading events back, the outbox, and the retention purge.

use sendrealm_aggregator::store::EventFilter;

use crate::support::{Backend, contact_of, incoming, on_both, store_batch, with_project};

async fn events_are_listed_by_each_filter_newest_first(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, "proj_a").await;
    with_project(store, "proj_b").await;
    let a1 = incoming("proj_a", "order.completed", (None, None, Some("a@x.co")));
    let a2 = incoming("proj_a", "page.viewed", (None, None, Some("a@x.co")));
    let a3 = incoming("proj_a", "order.completed", (None, Some("other"), None));
    let b1 = incoming("proj_b", "order.completed", (None, None, Some("a@x.co")));
    let outcomes = store_batch(store, &[a1.clone(), a2.clone(), a3.clone(), b1.clone()]).await;
    let contact_a = contact_of(&outcomes[0]).unwrap();
    let ids = |rows: Vec<sendrealm_aggregator::store::EventRow>| {
        rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let filter = |f: EventFilter| EventFilter { limit: 10, ..f };

    let all_a = store
        .events(&filter(EventFilter {
            project_id: Some("proj_a".into()),
            ..EventFilter::default()
        }))
        .await
        .unwrap();
    assert_eq!(ids(all_a.clone()), [a3.id, a2.id, a1.id], "newest first");
    let by_contact = store
        .events(&filter(EventFilter {
            project_id: Some("proj_a".into()),
            contact_id: Some(contact_a),
            ..EventFilter::default()
        }))
        .await
        .unwrap();
    assert_eq!(ids(by_contact), [a2.id, a1.id]);
    let by_name = store
        .events(&filter(EventFilter {
            project_id: Some("proj_a".into()),
            event: Some("order.completed".into()),
            ..EventFilter::default()
        }))
        .await
        .unwrap();
    assert_eq!(ids(by_name), [a3.id, a1.id]);
    // The cursor: events before a row, and the limit.
    let page = store
        .events(&EventFilter {
            project_id: Some("proj_a".into()),
            before_seq: Some(all_a[0].seq),
            limit: 1,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(page), [a2.id]);
    // Admins list across projects.
    let everything = store.events(&filter(EventFilter::default())).await.unwrap();
    assert_eq!(everything.len(), 4);

    let one = store.event(b1.id).await.unwrap().unwrap();
    assert_eq!(one.project_id, "proj_b");
    assert_eq!(one.email.as_deref(), Some("a@x.co"));
    assert_eq!(one.payload, r#"{"n":1}"#);
    assert_eq!(one.received_at, b1.event.received_at.unix_millis());
    assert!(store.event(uuid::Uuid::now_v7()).await.unwrap().is_none());
    // The same email in another project is another contact.
    assert_ne!(one.contact_id, Some(contact_a));
}

on_both!(
    events_are_listed_by_each_filter_newest_first,
    super::events_are_listed_by_each_filter_newest_first
);

async fn retention_purges_a_projects_old_events_in_batches(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, "proj_a").await;
    with_project(store, "proj_b").await;
    let mut events = Vec::new();
    for (i, project) in ["proj_a", "proj_a", "proj_a", "proj_b"].iter().enumerate() {
        let mut e = incoming(project, "a.b", (None, Some("u"), None));
        e.event.received_at =
            sendrealm_common::event::Timestamp::from_unix_millis(1_000 + i as i64);
        events.push(e);
    }
    store_batch(store, &events).await;
    // Two per statement: the caller loops until fewer than asked come back.
    assert_eq!(store.purge_events("proj_a", 1_002, 2).await.unwrap(), 2);
    assert_eq!(store.purge_events("proj_a", 1_002, 2).await.unwrap(), 0);
    assert!(
        store.event(events[2].id).await.unwrap().is_some(),
        "received at the cutoff stays"
    );
    assert!(
        store.event(events[3].id).await.unwrap().is_some(),
        "other projects stay"
    );
}

on_both!(
    retention_purges_a_projects_old_events_in_batches,
    super::retention_purges_a_projects_old_events_in_batches
);

async fn the_outbox_holds_system_events_until_deleted(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    with_project(store, "proj_a").await;
    let events: Vec<_> = (0..3)
        .map(|i| {
            incoming(
                "proj_a",
                "a.b",
                (None, None, Some(format!("o{i}@x.co").as_str())),
            )
        })
        .collect();
    store_batch(store, &events).await;
    let rows = store.outbox(10).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(store.outbox(2).await.unwrap().len(), 2, "limit");
    store
        .delete_outbox(&[rows[0].id.clone(), rows[1].id.clone()])
        .await
        .unwrap();
    let left = store.outbox(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, rows[2].id);
}

on_both!(
    the_outbox_holds_system_events_until_deleted,
    super::the_outbox_holds_system_events_until_deleted
);
