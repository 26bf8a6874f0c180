//! The backoffice's hourly figures: added to by several writers, each agent report once.

use sendrealm_aggregator::figures::{self, Delta, HOUR_MS};

use crate::support::{Backend, on_both};

fn stage(project: &str, buckets: &[(u64, u64)]) -> Delta {
    Delta {
        project_id: project.into(),
        name: figures::QUEUE_LAG.into(),
        count: buckets.iter().map(|b| b.1).sum(),
        sum_us: buckets.iter().map(|b| b.0 * b.1).sum(),
        buckets: Some(buckets.to_vec()),
    }
}

async fn figures_add_up_across_writers_and_reports_count_once(backend: Backend) {
    let fresh = backend.fresh().await;
    let store = &fresh.store;
    let hour = 10 * HOUR_MS;
    // Two aggregators' flushes into the same hour: counts add, buckets merge.
    assert!(
        store
            .add_figures(
                hour,
                &[
                    stage("proj_a", &[(1_000, 3)]),
                    Delta::counter("proj_a", figures::STORED, 3)
                ],
                None
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .add_figures(
                hour,
                &[
                    stage("proj_a", &[(1_000, 1), (9_000, 1)]),
                    Delta::counter("proj_a", figures::STORED, 2)
                ],
                None
            )
            .await
            .unwrap()
    );
    // An agent's report, delivered twice: counted once.
    let report = [Delta::counter("proj_a", "refused.payload_too_large", 4)];
    assert!(store.add_figures(hour, &report, Some("r1")).await.unwrap());
    assert!(!store.add_figures(hour, &report, Some("r1")).await.unwrap());
    // An older hour, and another project.
    store
        .add_figures(
            hour - HOUR_MS,
            &[Delta::counter("proj_a", figures::STORED, 7)],
            None,
        )
        .await
        .unwrap();
    store
        .add_figures(hour, &[Delta::counter("proj_b", figures::RETRIED, 1)], None)
        .await
        .unwrap();

    let rows = store.figures_since(hour).await.unwrap();
    let summary = figures::summarize(&rows);
    let a = &summary["proj_a"];
    assert_eq!(
        a.counter(figures::STORED),
        5,
        "the older hour is outside the window"
    );
    assert_eq!(a.refused(), [("payload_too_large".to_owned(), 4)]);
    assert_eq!(a.stages[0].count, 5);
    assert_eq!(a.stages[0].p50_ms, 1.0);
    assert_eq!(a.stages[0].p99_ms, 9.0);
    assert_eq!(summary["proj_b"].counter(figures::RETRIED), 1);
    assert_eq!(
        figures::summarize(&store.figures_since(hour - HOUR_MS).await.unwrap())["proj_a"]
            .counter(figures::STORED),
        12
    );

    // Purging removes the hours before the cut, and their report ids.
    assert_eq!(store.purge_figures(hour).await.unwrap(), 1);
    assert_eq!(store.figures_since(0).await.unwrap().len(), rows.len());
    assert_eq!(
        store.purge_figures(hour + HOUR_MS).await.unwrap(),
        rows.len() as u64
    );
    assert!(store.add_figures(hour, &report, Some("r1")).await.unwrap());
    store.close().await;
}

on_both!(
    figures_add_up_across_writers_and_reports_count_once,
    super::figures_add_up_across_writers_and_reports_count_once
);
