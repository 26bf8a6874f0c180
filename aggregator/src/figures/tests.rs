use super::*;
use crate::store::FigureRow;

fn row(project: &str, name: &str, count: i64, sum_us: i64, buckets: &[(u64, u64)]) -> FigureRow {
    FigureRow {
        project_id: project.into(),
        hour: 0,
        name: name.into(),
        count,
        sum_us,
        histogram: (!buckets.is_empty()).then(|| encode(buckets)),
    }
}

#[test]
fn recorded_figures_become_rows_once() {
    let figures = Figures::default();
    figures.record(|r| {
        r.latency("proj_a", 0, 1_000);
        r.latency("proj_a", 0, 3_000);
        r.count("proj_a", STORED, 2);
    });
    figures.count("proj_b", RETRIED, 1);
    let mut deltas = figures.take();
    deltas.sort_by(|a, b| (&a.project_id, &a.name).cmp(&(&b.project_id, &b.name)));
    assert_eq!(deltas.len(), 3);
    assert_eq!(deltas[0].name, QUEUE_LAG);
    assert_eq!((deltas[0].count, deltas[0].sum_us), (2, 4_000));
    assert_eq!(deltas[1], Delta::counter("proj_a", STORED, 2));
    assert_eq!(deltas[2], Delta::counter("proj_b", RETRIED, 1));
    assert!(figures.take().is_empty(), "taken once");
    // Rows that could not be written come back whole.
    figures.restore(deltas.clone());
    let mut again = figures.take();
    again.sort_by(|a, b| (&a.project_id, &a.name).cmp(&(&b.project_id, &b.name)));
    assert_eq!(again, deltas);
}

#[test]
fn buckets_merge_and_give_quantiles() {
    let a = [(1_000, 98), (5_000, 1)];
    let b = [(1_000, 1), (2_000_000, 1)];
    let merged = merge(&a, &b);
    assert_eq!(merged, [(1_000, 99), (5_000, 1), (2_000_000, 1)]);
    assert_eq!(quantile(&merged, 0.5), 1_000);
    assert_eq!(quantile(&merged, 0.995), 2_000_000);
    assert_eq!(quantile(&[], 0.5), 0);
    assert_eq!(decode(Some(&encode(&merged))), merged);
    assert!(decode(Some("not json")).is_empty());
}

#[test]
fn summaries_merge_hours_and_instances_and_name_the_cause() {
    let rows = [
        // Two instances' queue lag for one project: percentiles from the merged buckets.
        row("proj_a", QUEUE_LAG, 99, 99_000, &[(1_000, 99)]),
        row("proj_a", QUEUE_LAG, 1, 5_000_000, &[(5_000_000, 1)]),
        row("proj_a", STORED, 100, 0, &[]),
        row("proj_b", STORED, 90, 0, &[]),
        row("proj_b", "refused.payload_too_large", 8, 0, &[]),
        row("proj_b", "refused.invalid_event_name", 2, 0, &[]),
        row("proj_b", QUEUE_LAG, 90, 90_000, &[(1_000, 90)]),
        row("proj_c", STORED, 1, 0, &[]),
    ];
    let summaries = summarize(&rows);
    let a = &summaries["proj_a"];
    assert_eq!(a.stages[0].count, 100);
    assert_eq!(a.stages[0].p50_ms, 1.0);
    assert_eq!(a.stages[0].p99_ms, 1.0);
    assert!(
        (a.stages[0].mean_ms - 50.99).abs() < 0.01,
        "{}",
        a.stages[0].mean_ms
    );
    assert_eq!(
        a.verdict(),
        "ok",
        "one slow event in a hundred is not lag at p99"
    );
    let b = &summaries["proj_b"];
    assert_eq!(
        b.refused(),
        [
            ("payload_too_large".to_owned(), 8),
            ("invalid_event_name".to_owned(), 2)
        ]
    );
    assert_eq!(b.verdict(), "bad payloads");
    let lagging = summarize(&[row("proj_d", QUEUE_LAG, 2, 4_000_000, &[(2_000_000, 2)])]);
    assert_eq!(lagging["proj_d"].verdict(), "queue lag");
    assert!(lagging["proj_d"].severity() > b.severity());
    assert_eq!(
        summarize(&[row("proj_e", "retried", 0, 0, &[])])["proj_e"].verdict(),
        "idle"
    );
    assert_eq!(hour_of(HOUR_MS + 5), HOUR_MS);
}
