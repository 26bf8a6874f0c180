use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use sendrealm_e2e::aggregator::ADMIN_TOKEN;
use sendrealm_e2e::stack::{Database, Pipeline};
use sendrealm_e2e::wait;
use serde_json::json;

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

/// The `_count` of a summary series with the given labels.
fn summary_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> u64 {
    let count_name = format!("{name}_count");
    scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == count_name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .find_map(|s| match &s.value {
            Value::Untyped(v) | Value::Counter(v) | Value::Gauge(v) => Some(*v as u64),
            _ => None,
        })
        .unwrap_or(0)
}

fn summary_quantile(scrape: &Scrape, name: &str, labels: &[(&str, &str)], q: f64) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .find_map(|s| match &s.value {
            Value::Summary(quantiles) => {
                quantiles.iter().find(|x| x.quantile == q).map(|x| x.count)
            }
            _ => None,
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_and_histograms_move_when_events_flow_on_sqlite() {
    metrics_parse_and_histograms_move_when_events_flow(Database::Sqlite).await;
}

#[tokio::test]
async fn metrics_parse_and_histograms_move_when_events_flow_on_postgres() {
    metrics_parse_and_histograms_move_when_events_flow(Database::postgres().await).await;
}

async fn metrics_parse_and_histograms_move_when_events_flow(database: Database) {
    let pipeline = Pipeline::start(database, &[], &[], &[]).await;
    let stack = &pipeline.stack;
    let before = parse(&stack.agent.get("/metrics").await.unwrap().text);
    let events = [("route", "events"), ("status", "2xx")];
    assert_eq!(
        summary_count(&before, "sendrealm_agent_request_seconds", &events),
        0
    );

    for i in 0..5 {
        let reply = stack
            .agent
            .send_event(
                &stack.project.key,
                &json!({"event": "a.b", "external_id": format!("u{i}")}),
            )
            .await;
        assert_eq!(reply.status, 202);
    }
    stack
        .agent
        .send_event("sk_bad", &json!({"event": "a.b", "external_id": "u"}))
        .await;

    let after = parse(&stack.agent.get("/metrics").await.unwrap().text);
    assert_eq!(
        summary_count(&after, "sendrealm_agent_request_seconds", &events),
        5
    );
    assert_eq!(
        summary_count(
            &after,
            "sendrealm_agent_request_seconds",
            &[("route", "events"), ("status", "4xx")]
        ),
        1
    );
    assert_eq!(
        summary_count(
            &after,
            "sendrealm_agent_ack_seconds",
            &[("outcome", "stored")]
        ),
        5
    );
    assert!(
        summary_quantile(
            &after,
            "sendrealm_agent_ack_seconds",
            &[("outcome", "stored")],
            0.99
        ) > 0.0
    );

    let aggregator = &pipeline.aggregator;
    let scrape = wait::until(
        Duration::from_secs(20),
        "the aggregator to record the events",
        || async {
            let (_, text) = aggregator.get_plain("/metrics").await;
            let scrape = parse(&text);
            // 5 customer events (end to end: system events have no agent receipt to measure
            // from), and queue lag for those and their 5 sendrealm.contact.created.
            (summary_count(&scrape, "sendrealm_aggregator_end_to_end_seconds", &[]) >= 5
                && summary_count(&scrape, "sendrealm_aggregator_queue_lag_seconds", &[]) >= 10)
                .then_some(scrape)
        },
    )
    .await;
    assert!(summary_count(&scrape, "sendrealm_aggregator_queue_lag_seconds", &[]) >= 10);
    assert!(summary_count(&scrape, "sendrealm_aggregator_processing_seconds", &[]) >= 5);
    assert!(summary_quantile(&scrape, "sendrealm_aggregator_processing_seconds", &[], 0.5) > 0.0);
    assert!(summary_count(&scrape, "sendrealm_aggregator_batch_messages", &[]) >= 1);
    assert!(summary_count(&scrape, "sendrealm_aggregator_transaction_seconds", &[]) >= 1);
    assert!(
        summary_quantile(
            &scrape,
            "sendrealm_aggregator_transaction_seconds",
            &[],
            0.5
        ) > 0.0
    );
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let hash = sendrealm_common::apikey::hash_api_key_hex("metrics-secret");
    let pipeline = Pipeline::start(
        Database::Sqlite,
        &[],
        &[],
        &[("SENDREALM_METRICS_TOKEN_SHA256", &hash)],
    )
    .await;
    let agg = &pipeline.aggregator;
    let (status, _) = agg.get_plain("/metrics").await;
    assert_eq!(status, 401);
    let (status, _) = agg.get("/metrics", &pipeline.stack.project.key).await;
    assert_eq!(status, 401, "a project key does not open /metrics");
    for token in ["metrics-secret", ADMIN_TOKEN] {
        let (status, body) = agg.get("/metrics", token).await;
        assert_eq!(status, 200, "{token}");
        assert!(body.to_string().contains("sendrealm_aggregator"), "{body}");
    }
    // The rest of the operators' endpoints stay open to probes.
    assert_eq!(agg.get_plain("/readyz").await.0, 200);
}
