//! Liveness, readiness and the Prometheus metrics of the aggregator.

use std::sync::Arc;

use sendrealm_common::event::Timestamp;
use serde::Serialize;
use warp::reply::Response;

use super::State;
use super::reply::json;

/// `GET /healthz`.
pub fn healthz() -> Response {
    json(200, br#"{"status":"ok"}"#.to_vec())
}

#[derive(Serialize)]
struct Readiness {
    ready: bool,
    database: bool,
    nats_connected: bool,
    consuming: bool,
    shutting_down: bool,
}

/// `GET /readyz`: database answers, NATS connected, consumer pulling, not stopping.
pub async fn readyz(state: Arc<State>) -> Response {
    let database = state.store.ping().await.is_ok();
    let nats_connected =
        state.client.connection_state() == async_nats::connection::State::Connected;
    let consuming = state.metrics.is_consuming();
    let shutting_down = state.stopping.is_cancelled();
    let ready = database && nats_connected && consuming && !shutting_down;
    let body = Readiness {
        ready,
        database,
        nats_connected,
        consuming,
        shutting_down,
    };
    json(
        if ready { 200 } else { 503 },
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// `GET /metrics`.
pub async fn metrics(state: Arc<State>) -> Response {
    let dlq = match state.store.dlq_counts().await {
        Ok(counts) => counts,
        Err(error) => {
            tracing::warn!(%error, "Dead-letter counts unavailable for /metrics.");
            Vec::new()
        }
    };
    let text = state.metrics.render(&dlq, Timestamp::now().unix_millis());
    let mut response = Response::new(text.into());
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
