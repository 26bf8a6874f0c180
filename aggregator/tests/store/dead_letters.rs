//! Dead-letter records.

use sendrealm_aggregator::store::{DeadLetterFilter, DeadLetterRow};

use crate::support::{Backend, on_both};

fn row(id: &str, project: &str, seq: i64, reason: &str, created_at: i64) -> DeadLetterRow {
    DeadLetterRow {
        id: id.into(),
        stream: "SENDREALM_EVENTS".into(),
        stream_seq: seq,
        project_id: project.into(),
        subject: format!("sendrealm.events.{project}.a.b"),
        msg_id: Some(format!("{project}:k{seq}")),
        headers: "{}".into(),
        payload: Some("{not json".into()),
        payload_base64: false,
        original_missing: false,
        reason: reason.into(),
        error: "undecodable event".into(),
        deliveries: 1,
        first_failed_at: created_at,
        last_failed_at: created_at,
        created_at,
        replayed_at: None,
        replay_count: 0,
    }
}

async fn dead_letters_are_recorded_once_listed_replayed_and_purged(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    let first = row("dlq_1", "proj_a", 7, "terminated", 100);
    assert!(store.insert_dead_letter(&first).await.unwrap());
    // The same original message again (say, its advisory too): one record.
    assert!(
        !store
            .insert_dead_letter(&row("dlq_1b", "proj_a", 7, "max_deliveries", 101))
            .await
            .unwrap()
    );
    store
        .insert_dead_letter(&row("dlq_2", "proj_a", 8, "max_deliveries", 200))
        .await
        .unwrap();
    store
        .insert_dead_letter(&row("dlq_3", "proj_b", 9, "terminated", 300))
        .await
        .unwrap();

    assert_eq!(
        store.dead_letter("dlq_1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.dead_letter("dlq_zz").await.unwrap(), None);
    assert_eq!(
        store
            .dead_letter_of("SENDREALM_EVENTS", 8)
            .await
            .unwrap()
            .map(|r| r.id),
        Some("dlq_2".into())
    );
    let list = |f: DeadLetterFilter| async move {
        store
            .dead_letters(&DeadLetterFilter { limit: 10, ..f })
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(DeadLetterFilter::default()).await,
        ["dlq_1", "dlq_2", "dlq_3"]
    );
    assert_eq!(
        list(DeadLetterFilter {
            project_id: Some("proj_a".into()),
            ..Default::default()
        })
        .await,
        ["dlq_1", "dlq_2"]
    );
    assert_eq!(
        list(DeadLetterFilter {
            reason: Some("terminated".into()),
            ..Default::default()
        })
        .await,
        ["dlq_1", "dlq_3"]
    );
    assert_eq!(
        list(DeadLetterFilter {
            since: Some(200),
            ..Default::default()
        })
        .await,
        ["dlq_2", "dlq_3"]
    );

    store.mark_replayed("dlq_1", 500).await.unwrap();
    store.mark_replayed("dlq_1", 600).await.unwrap();
    let replayed = store.dead_letter("dlq_1").await.unwrap().unwrap();
    assert_eq!(
        (replayed.replayed_at, replayed.replay_count),
        (Some(600), 2)
    );
    assert_eq!(
        list(DeadLetterFilter {
            pending_only: true,
            ..Default::default()
        })
        .await,
        ["dlq_2", "dlq_3"]
    );
    let counts = store.dlq_counts().await.unwrap();
    assert_eq!(counts.len(), 2);
    assert_eq!(
        (
            counts[0].project_id.as_str(),
            counts[0].pending,
            counts[0].replayed,
            counts[0].oldest_pending_at
        ),
        ("proj_a", 1, 1, Some(200))
    );

    assert_eq!(
        store
            .purge_dead_letters(Some("proj_a"), true)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.purge_dead_letters(None, false).await.unwrap(), 2);
    assert!(store.dlq_counts().await.unwrap().is_empty());
}

on_both!(
    dead_letters_are_recorded_once_listed_replayed_and_purged,
    super::dead_letters_are_recorded_once_listed_replayed_and_purged
);
