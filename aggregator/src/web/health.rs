//! Liveness, readiness and the Prometheus metrics of the aggregator.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

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
    // A probe gets its answer within a second even while the database hangs.
    let database = matches!(
        tokio::time::timeout(READY_DATABASE_DEADLINE, state.store.ping()).await,
        Ok(Ok(()))
    );
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

/// How long `/readyz` waits for the database's answer.
const READY_DATABASE_DEADLINE: Duration = Duration::from_millis(800);
/// How often the dead-letter counts `/metrics` shows are read from the database.
const DLQ_COUNTS_EVERY: Duration = Duration::from_secs(5);

/// Keeps the dead-letter counts of `/metrics` fresh, so a scrape never waits on the
/// database (while it is away, the last counts read are shown).
pub async fn refresh_dlq_counts(state: Arc<State>, stop: CancellationToken) {
    loop {
        match state.store.dlq_counts().await {
            Ok(counts) => {
                if let Ok(mut shown) = state.dlq_counts.lock() {
                    *shown = counts;
                }
            }
            Err(error) => tracing::debug!(%error, "Dead-letter counts not refreshed."),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(DLQ_COUNTS_EVERY) => {}
        }
    }
}

/// `GET /metrics`: from memory only. With a metrics token configured, it (or the admin
/// token) is required.
pub async fn metrics(state: Arc<State>, authorization: Option<String>) -> Response {
    if let Some(expected) = &state.metrics_token_sha256 {
        let token = authorization
            .as_deref()
            .and_then(sendrealm_common::apikey::bearer_token);
        let allowed = token.is_some_and(|token| {
            sendrealm_common::apikey::matches_hash(token, expected)
                || state
                    .admin_token_sha256
                    .as_ref()
                    .is_some_and(|admin| sendrealm_common::apikey::matches_hash(token, admin))
        });
        if !allowed {
            return super::reply::ApiError::new(
                sendrealm_common::error_code::ErrorCode::MissingApiKey,
                "send `Authorization: Bearer <metrics token>`",
            )
            .into_response();
        }
    }
    let dlq = state
        .dlq_counts
        .lock()
        .map(|counts| counts.clone())
        .unwrap_or_default();
    let text = state.metrics.render(&dlq, Timestamp::now().unix_millis());
    let mut response = Response::new(text.into());
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
