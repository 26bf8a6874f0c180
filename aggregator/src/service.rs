//! The aggregator service: consumer, system-event outbox, retention, policy sync and the
//! HTTP API, run until a shutdown signal and then drained in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use sendrealm_common::service;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::AggregatorConfig;
use crate::consume::Consumer;
use crate::metrics::Metrics;
use crate::outbox;
use crate::policies::PolicyBucket;
use crate::store::Store;
use crate::system_events::SystemEvents;
use crate::{retention, web};

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// NATS could not be set up.
    #[error(transparent)]
    Nats(#[from] service::NatsConnectError),
}

/// Runs the aggregator on `store` and a bound listener until `shutdown` resolves. Then it
/// stops pulling, finishes the batch in hand (commit, then ack), publishes pending system
/// events, and closes the database, within `shutdown_timeout_secs`.
pub async fn run(
    config: AggregatorConfig,
    store: Store,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let client = service::connect_nats(&config.nats, "sendrealm-aggregator").await?;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_millis(config.nats.request_timeout_ms))
        .build(client.clone());
    let metrics = Arc::new(Metrics::default());
    let stopping = CancellationToken::new();
    let outbox = Arc::new(Notify::new());

    let failures = Arc::new(crate::dlq::failures::Failures::default());
    let catalog_handoff = Arc::new(crate::catalog_handoff::Handoff::default());
    let catalog_limits = config.catalog.limits();
    let consumer = Consumer {
        store: store.clone(),
        js: js.clone(),
        config: config.consumer.clone(),
        stream: config.nats.stream.clone(),
        system: SystemEvents {
            subject_prefix: config.nats.stream.subject_prefix.clone(),
            region: config.region.clone(),
        },
        outbox: Arc::clone(&outbox),
        metrics: Arc::clone(&metrics),
        failures: Arc::clone(&failures),
        dlq: config.dlq.clone(),
        faults: config.faults.clone(),
        known: Default::default(),
        catalog: catalog_limits.is_some(),
        catalog_handoff: Arc::clone(&catalog_handoff),
    };
    let worker = crate::dlq::worker::Worker {
        store: store.clone(),
        js: js.clone(),
        dlq: config.dlq.clone(),
        consumer: config.consumer.clone(),
        stream: config.nats.stream.clone(),
        failures,
        metrics: Arc::clone(&metrics),
    };
    let consumer_task = tokio::spawn(consumer.run(stopping.clone()));
    let background = CancellationToken::new();
    let worker_task = tokio::spawn(worker.run(background.clone()));
    let outbox_task = tokio::spawn(flush_outbox(
        store.clone(),
        js.clone(),
        Arc::clone(&outbox),
        background.clone(),
    ));
    // Written once more at shutdown, after the consumer's last batch.
    let figures_task = tokio::spawn(crate::figures::run(
        store.clone(),
        Arc::clone(&metrics.figures),
        background.clone(),
    ));
    let waits_task = tokio::spawn(crate::wait_matcher::run(
        store.clone(),
        js.clone(),
        Arc::clone(&outbox),
        config.nats.stream.replicas,
        background.clone(),
    ));
    let reports_task = tokio::spawn(crate::reports::run(
        js.clone(),
        store.clone(),
        config.nats.stream.replicas,
        background.clone(),
    ));
    let retention_task = tokio::spawn(retention::run(
        store.clone(),
        config.retention.clone(),
        Arc::clone(&metrics),
        background.clone(),
    ));
    // Stopped with the consumer, first: it holds a connection the last batch may need, and
    // what it has not folded stays queued for the next start.
    let catalog_task = catalog_limits.map(|limits| {
        tokio::spawn(crate::catalog_folder::run(
            store.clone(),
            Arc::clone(&catalog_handoff),
            limits,
            stopping.clone(),
        ))
    });
    let regions_metrics = Arc::clone(&metrics);
    tokio::spawn(crate::regions::run(
        client.clone(),
        js.clone(),
        config.nats.clone(),
        config.regions.clone(),
        Arc::clone(&metrics.region_progress),
        move |states| regions_metrics.set_regions(states),
        background.clone(),
    ));
    tokio::spawn(sync_policies(
        store.clone(),
        js.clone(),
        config.clone(),
        background.clone(),
    ));

    let state = Arc::new(web::State {
        store: store.clone(),
        admin_token_sha256: config
            .admin_token_sha256
            .as_deref()
            .and_then(sendrealm_common::apikey::parse_key_hash),
        metrics_token_sha256: config
            .metrics_token_sha256
            .as_deref()
            .and_then(sendrealm_common::apikey::parse_key_hash),
        metrics: Arc::clone(&metrics),
        client: client.clone(),
        stopping: stopping.clone(),
        region: config.region.clone(),
        nats: config.nats.clone(),
        replays: Default::default(),
        secure_cookies: config.dashboard.secure_cookies,
        dlq_counts: Default::default(),
    });
    tokio::spawn(web::health::refresh_dlq_counts(
        Arc::clone(&state),
        background.clone(),
    ));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, version = env!("CARGO_PKG_VERSION"), "Aggregator listening.");
    }
    let server = warp::serve(web::routes(Arc::clone(&state)))
        .incoming(listener)
        .graceful(stopping.clone().cancelled_owned())
        .run();
    let mut server = std::pin::pin!(server);
    tokio::spawn(notify_when_ready(Arc::clone(&metrics), background.clone()));
    tokio::spawn(service::watchdog());
    tokio::select! {
        _ = &mut server => {}
        _ = shutdown => {}
    }
    let deadline = Instant::now() + Duration::from_secs(config.shutdown_timeout_secs);
    service::notify_stopping();
    tracing::info!("Shutting down: finishing the batch in hand.");
    stopping.cancel();
    if tokio::time::timeout_at(deadline, consumer_task)
        .await
        .is_err()
    {
        tracing::warn!("The consumer did not finish within the shutdown budget.");
    }
    let _ = tokio::time::timeout_at(deadline, &mut server).await;
    background.cancel();
    let _ = tokio::time::timeout_at(deadline, async {
        let _ = outbox_task.await;
        let _ = retention_task.await;
        let _ = worker_task.await;
        let _ = figures_task.await;
        let _ = reports_task.await;
        let _ = waits_task.await;
        if let Some(task) = catalog_task {
            let _ = task.await;
        }
    })
    .await;
    // One last flush: system events of the final batch go out now, not at next start.
    if let Err(error) = tokio::time::timeout_at(deadline, outbox::flush(&store, &js))
        .await
        .unwrap_or(Ok(0))
    {
        tracing::warn!(%error, "System events left in the outbox; they go out at next start.");
    }
    // Bounded: while NATS is unreachable a flush would wait for the reconnect. Acks not
    // sent only mean redeliveries, which the unique keys absorb.
    match tokio::time::timeout(Duration::from_secs(2), client.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "Could not flush the NATS connection."),
        Err(_) => tracing::warn!("NATS unreachable at shutdown; pending acks were not sent."),
    }
    drop(state);
    store.close().await;
    tracing::info!("Aggregator stopped.");
    Ok(())
}

async fn flush_outbox(
    store: Store,
    js: jetstream::Context,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(outbox::FLUSH_INTERVAL) => {}
        }
        match outbox::flush(&store, &js).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(published = n, "System events published."),
            Err(error) => tracing::warn!(%error, "System events not published yet; retrying."),
        }
    }
}

/// Republishes every policy at start (the bucket may be new, or have missed a change made
/// while NATS was down), retrying until it succeeds.
/// Publishes every policy at start, then keeps the bucket in step with the database: a
/// change made while NATS was unreachable (the CLI could not publish it) reaches the agents
/// within `policy_reconcile_secs` of NATS returning.
async fn sync_policies(
    store: Store,
    js: jetstream::Context,
    config: AggregatorConfig,
    stop: CancellationToken,
) {
    let mut published = false;
    let mut delay = Duration::from_millis(500);
    let every = Duration::from_secs(config.policy_reconcile_secs.max(1));
    loop {
        let attempt = async {
            let bucket = PolicyBucket::open(&js, &config.nats)
                .await
                .map_err(|e| e.to_string())?;
            if published {
                bucket.reconcile(&store).await.map_err(|e| e.to_string())
            } else {
                let rows = store.projects().await.map_err(|e| e.to_string())?;
                for row in &rows {
                    bucket
                        .publish(&store, &row.id)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<usize, String>(rows.len())
            }
        };
        let pause = match attempt.await {
            Ok(n) if !published => {
                tracing::info!(projects = n, "Policies published.");
                published = true;
                delay = Duration::from_millis(500);
                every
            }
            Ok(0) => every,
            Ok(n) => {
                tracing::info!(
                    projects = n,
                    "Policies that differed from the database republished."
                );
                every
            }
            Err(error) => {
                tracing::warn!(%error, "Policies not in step with the database yet; retrying.");
                let pause = delay;
                delay = (delay * 2).min(every);
                pause
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

async fn notify_when_ready(metrics: Arc<Metrics>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if metrics.is_consuming() {
            tracing::info!("Aggregator ready.");
            service::notify_ready();
            return;
        }
    }
}
