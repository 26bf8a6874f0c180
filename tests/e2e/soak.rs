//! A soak: 200,000 events, singles and batches mixed, through the whole pipeline, with the
//! resident memory of both services sampled all along and bounded.

use std::time::Duration;

use sendrealm_e2e::aggregator::UNLIMITED;
use sendrealm_e2e::db;
use sendrealm_e2e::load::{Load, LoadConfig};
use sendrealm_e2e::process::rss_mb;
use sendrealm_e2e::stack::{Database, Pipeline};

const EVENTS: u64 = 200_000;
/// Bounds on resident memory (debug builds; release ones use less).
const AGENT_MAX_MB: f64 = 96.0;
const AGGREGATOR_MAX_MB: f64 = 320.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_of_200_000_mixed_events_stores_each_once_in_bounded_memory() {
    let pipeline = Pipeline::start(Database::Sqlite, &UNLIMITED, &[], &[]).await;
    let config = LoadConfig {
        workers: 8,
        batch_every: 3,
        batch_size: 50,
        max_events: Some(EVENTS),
        ..LoadConfig::default()
    };
    let load = Load::start(
        &pipeline.stack.agent.url,
        &pipeline.stack.project.key,
        config,
    );
    let agent_pid = pipeline.stack.agent.pid();
    let aggregator_pid = pipeline.aggregator.pid();
    // Sampled every 250 ms while the load runs and the aggregator drains.
    let mut samples: Vec<(f64, f64)> = Vec::new();
    let sample = |samples: &mut Vec<(f64, f64)>| {
        let agent = rss_mb(agent_pid).map_or(0.0, |(now, _)| now);
        let aggregator = rss_mb(aggregator_pid).map_or(0.0, |(now, _)| now);
        samples.push((agent, aggregator));
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let url = pipeline.database_url();
    loop {
        sample(&mut samples);
        if load.is_finished()
            && db::count(
                &url,
                "SELECT count(*) FROM events WHERE event = 'load.sent'",
                &[],
            )
            .await
                >= EVENTS as i64
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the soak did not finish in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let ledger = load.stop().await;
    pipeline.drained(Duration::from_secs(60)).await;
    let report = ledger.check("soak", &db::stored_keys(&url, "load.sent").await);
    // The last batches may pass the total by a few events; every one is acknowledged.
    assert!(
        report.sent as u64 >= EVENTS && report.acknowledged == report.sent,
        "every event acknowledged: {report:?}"
    );

    let (agent_now, agent_peak) = rss_mb(agent_pid).expect("agent memory");
    let (aggregator_now, aggregator_peak) = rss_mb(aggregator_pid).expect("aggregator memory");
    let sampled_agent = samples.iter().map(|s| s.0).fold(0.0, f64::max);
    let sampled_aggregator = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    println!(
        "soak memory (MB): agent now {agent_now:.1} peak {agent_peak:.1} sampled max \
         {sampled_agent:.1}; aggregator now {aggregator_now:.1} peak {aggregator_peak:.1} \
         sampled max {sampled_aggregator:.1}; {} samples",
        samples.len()
    );
    assert!(samples.len() > 4, "memory was sampled during the soak");
    assert!(agent_peak <= AGENT_MAX_MB, "agent peak {agent_peak:.1} MB");
    assert!(
        aggregator_peak <= AGGREGATOR_MAX_MB,
        "aggregator peak {aggregator_peak:.1} MB"
    );
}
