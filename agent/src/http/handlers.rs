//! Request handlers: HTTP in, [`crate::ingest`] in the middle, HTTP out.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::Stream;
use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::State;
use super::body::{read_capped, require_json};
use super::budget::Reserved;
use super::error::{ApiError, json_response, set_rate_headers};
use crate::auth;
use crate::ingest::{Accepted, IngestError, Outcome};
use crate::metrics::Route;
use crate::policy::Project;

/// Header marking an answer that replays an earlier event with the same idempotency key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Authenticates, checks the content type, reserves room in the body budget and reads the
/// body under `cap`. The reservation is held until the request is answered.
async fn admit<S, B>(
    state: &State,
    head: Head,
    body: S,
    cap: u64,
) -> Result<(Arc<Project>, Bytes, Reserved), ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let project = auth::authenticate(&state.policies, head.authorization.as_deref())
        .map_err(|e| ApiError::from_ingest(e.into(), state.limits.retry_after_secs))?;
    require_json(head.content_type.as_deref())?;
    // A body that states a size over the cap is refused by `read_capped` without a
    // reservation; any other reserves what it may take.
    let reserve = head.content_length.unwrap_or(cap).min(cap);
    let reserved = state.body_budget.reserve(reserve).ok_or_else(|| {
        let mut error = ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the agent is holding as many request bodies as it may; retry shortly",
        );
        error.retry_after = Some(state.limits.retry_after_secs);
        error
    })?;
    let body = read_capped(body, head.content_length, cap).await?;
    Ok((project, body, reserved))
}

fn refuse(state: &State, error: ApiError) -> Response {
    state.metrics.reject(error.code);
    error.into_response()
}

/// `POST /events`.
pub async fn post_event<S, B>(
    state: Arc<State>,
    authorization: Option<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let head = Head {
        authorization,
        content_type,
        content_length,
    };
    handle(Route::Events, &state, head, body).await
}

/// `POST /events/batch`: `{"events":[…]}` → one result per event, in order.
pub async fn post_batch<S, B>(
    state: Arc<State>,
    authorization: Option<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
    body: S,
) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let head = Head {
        authorization,
        content_type,
        content_length,
    };
    handle(Route::Batch, &state, head, body).await
}

/// The request headers the events routes read.
struct Head {
    authorization: Option<String>,
    content_type: Option<String>,
    content_length: Option<u64>,
}

/// Both events routes: admit the request, hand the body to ingest, answer, and record
/// how long it all took.
async fn handle<S, B>(route: Route, state: &State, head: Head, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let started = std::time::Instant::now();
    let cap = match route {
        Route::Events => state.limits.max_body_bytes,
        Route::Batch => state.limits.max_batch_body_bytes,
    };
    let response = match admit(state, head, body, cap).await {
        Err(error) => refuse(state, error),
        Ok((project, body, _reserved)) => match route {
            Route::Events => {
                let outcome = state.ingest.submit(&project, &body, Timestamp::now()).await;
                record(state, &project, &outcome);
                single_response(state, outcome)
            }
            Route::Batch => match state
                .ingest
                .submit_batch(&project, &body, Timestamp::now())
                .await
            {
                Ok(outcomes) => {
                    state.metrics.batch_size(outcomes.len());
                    batch_response(state, &project, outcomes)
                }
                Err(error) => {
                    let error = ApiError::from_ingest(error, state.limits.retry_after_secs);
                    state.refusals.count(&project.policy.project_id, error.code);
                    refuse(state, error)
                }
            },
        },
    };
    let status = response.status().as_u16();
    state.metrics.request(route, status, started.elapsed());
    response
}

/// Counts an event's outcome (refusals per project too, for the aggregator's backoffice).
fn record(state: &State, project: &Project, outcome: &Outcome) {
    match &outcome.result {
        Ok(Accepted::New(_)) => state.metrics.accepted(),
        Ok(Accepted::Replayed(_)) => state.metrics.replayed(),
        Err(error) => {
            state.metrics.reject(error.code());
            state
                .refusals
                .count(&project.policy.project_id, error.code());
        }
    }
}

fn single_response(state: &State, outcome: Outcome) -> Response {
    let mut response = match outcome.result {
        Ok(Accepted::New(answer)) => json_response(StatusCode::ACCEPTED, answer.body()),
        Ok(Accepted::Replayed(answer)) => {
            let mut response = json_response(StatusCode::OK, answer.body());
            response
                .headers_mut()
                .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            response
        }
        Err(error) => ApiError::from_ingest(error, state.limits.retry_after_secs).into_response(),
    };
    if let Some(rate) = outcome.rate {
        set_rate_headers(&mut response, rate);
    }
    response
}

/// Writes `{"object":"batch","accepted":n,"replayed":n,"rejected":n,"results":[…]}`, one
/// result per event in request order: `{"status":202,"data":{…}}` (or 200 with
/// `deduplicated: true`), or `{"status":…,"retryable":…,"error":{…}}` — each exactly the
/// body `POST /events` would have answered, plus its status. Stored events' bytes are
/// spliced in as they are (no re-serialisation).
fn batch_response(state: &State, project: &Project, outcomes: Vec<Outcome>) -> Response {
    let mut results = Vec::with_capacity(outcomes.len() * 600);
    let (mut accepted, mut replayed, mut rejected) = (0usize, 0usize, 0usize);
    let mut retry_after: Option<u64> = None;
    let mut last_rate = None;
    results.push(b'[');
    for (i, outcome) in outcomes.into_iter().enumerate() {
        record(state, project, &outcome);
        if i > 0 {
            results.push(b',');
        }
        last_rate = outcome.rate.or(last_rate);
        match outcome.result {
            Ok(Accepted::New(answer)) => {
                accepted += 1;
                item(&mut results, 202, None, b"data", answer.data());
            }
            Ok(Accepted::Replayed(answer)) => {
                replayed += 1;
                item(&mut results, 200, None, b"data", answer.data());
            }
            Err(error) => {
                rejected += 1;
                if let IngestError::RateLimited(exceeded) = &error {
                    retry_after = Some(retry_after.map_or(exceeded.retry_after_secs, |r| {
                        r.min(exceeded.retry_after_secs)
                    }));
                }
                let api = ApiError::from_ingest(error, state.limits.retry_after_secs);
                if api.code.status() == 503 {
                    retry_after = Some(state.limits.retry_after_secs);
                }
                let body = serde_json::to_vec(&api.body()).unwrap_or_default();
                let code = api.code;
                item(
                    &mut results,
                    code.status(),
                    Some(code.retryable()),
                    b"error",
                    &body,
                );
            }
        }
    }
    results.push(b']');
    let mut out = Vec::with_capacity(results.len() + 96);
    out.extend_from_slice(
        format!(
            r#"{{"object":"batch","accepted":{accepted},"replayed":{replayed},"rejected":{rejected},"results":"#
        )
        .as_bytes(),
    );
    out.extend_from_slice(&results);
    out.push(b'}');
    let mut response = json_response(StatusCode::OK, out.into());
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(rate) = last_rate {
        set_rate_headers(&mut response, rate);
    }
    response
}

/// One batch result: `{"status":S[,"retryable":R],"<key>":<json>}`.
fn item(out: &mut Vec<u8>, status: u16, retryable: Option<bool>, key: &[u8], json: &[u8]) {
    out.extend_from_slice(format!(r#"{{"status":{status},"#).as_bytes());
    if let Some(retryable) = retryable {
        out.extend_from_slice(format!(r#""retryable":{retryable},"#).as_bytes());
    }
    out.push(b'"');
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(json);
    out.push(b'}');
}

/// `GET /healthz`: the process is up.
pub fn healthz() -> Response {
    json_response(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
}

/// `GET /readyz`: `200` when events can be taken, `503` with the reasons otherwise.
pub fn readyz(state: Arc<State>) -> Response {
    let readiness = state.health.readiness();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(
        status,
        serde_json::to_vec(&readiness).unwrap_or_default().into(),
    )
}

/// `GET /metrics`: Prometheus text.
pub fn metrics(state: Arc<State>, authorization: Option<String>) -> Response {
    if let Some(expected) = &state.metrics_token {
        let allowed = authorization
            .as_deref()
            .and_then(sendrealm_common::apikey::bearer_token)
            .is_some_and(|token| sendrealm_common::apikey::matches_hash(token, expected));
        if !allowed {
            return super::error::ApiError::new(
                sendrealm_common::error_code::ErrorCode::MissingApiKey,
                "send `Authorization: Bearer <metrics token>`",
            )
            .into_response();
        }
    }
    let readiness = state.health.readiness();
    let text = state.metrics.render(readiness.projects, readiness.ready);
    let mut response = Response::new(text.into());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
