//! `POST /v1/waits`, `GET /v1/waits/{id}`, `DELETE /v1/waits/{id}`: the automation
//! engine's waits (service token). See [`crate::waits`].

use std::sync::Arc;

use bytes::Bytes;
use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use warp::reply::Response;

use super::State;
use super::internal::service;
use super::reply::{ApiError, json, respond};
use crate::store::{Transition, WaitRow};
use crate::{wait_matcher, waits};

fn answer(status: u16, wait: &WaitRow) -> Response {
    let body = serde_json::json!({ "data": waits::object(wait) });
    json(status, body.to_string().into_bytes())
}

fn no_wait() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such wait")
}

/// `POST /v1/waits`: registers a wait (the same id again answers the existing one).
pub async fn create(state: Arc<State>, authorization: Option<String>, body: Bytes) -> Response {
    respond(async {
        service(&state, authorization.as_deref()).await?;
        let registration = waits::parse(&body)?;
        let project = state
            .store
            .project(&registration.project_id)
            .await?
            .ok_or_else(|| ApiError::param(ErrorCode::NotFound, "project_id", "no such project"))?;
        let now = Timestamp::now().unix_millis();
        let wait = registration.into_row(now, project.retention_secs.saturating_mul(1000))?;
        // The same id again: the wait as it is now, if it is the same registration.
        if let Some(existing) = state.store.wait(&wait.id).await? {
            return repeat(existing, &wait);
        }
        if let Some(cap) = project.max_active_waits
            && state.store.open_wait_count(&project.id).await? >= cap
        {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("the project has {cap} open waits, its cap; retry when some resolve"),
            ));
        }
        if !state.store.insert_wait(&wait).await? {
            // Registered concurrently under the same id.
            let existing = state.store.wait(&wait.id).await?.ok_or_else(no_wait)?;
            return repeat(existing, &wait);
        }
        let now = Timestamp::now().unix_millis();
        let current = wait_matcher::look_back(&state.store, &wait, now).await?;
        Ok(answer(201, &current))
    })
    .await
}

fn repeat(existing: WaitRow, asked: &WaitRow) -> Result<Response, ApiError> {
    if existing.request_hash == asked.request_hash {
        Ok(answer(200, &existing))
    } else {
        Err(ApiError::param(
            ErrorCode::Conflict,
            "id",
            "a different wait already has this id",
        ))
    }
}

/// `GET /v1/waits/{id}`.
pub async fn get(id: String, state: Arc<State>, authorization: Option<String>) -> Response {
    respond(async {
        service(&state, authorization.as_deref()).await?;
        let wait = state.store.wait(&id).await?.ok_or_else(no_wait)?;
        Ok(answer(200, &wait))
    })
    .await
}

/// `DELETE /v1/waits/{id}`: cancels an open wait; a resolved one is answered as it is.
pub async fn cancel(id: String, state: Arc<State>, authorization: Option<String>) -> Response {
    respond(async {
        service(&state, authorization.as_deref()).await?;
        let wait = state.store.wait(&id).await?.ok_or_else(no_wait)?;
        if wait.status == waits::WAITING {
            let cancelled = WaitRow {
                status: waits::CANCELLED.to_owned(),
                cancelled_at: Some(Timestamp::now().unix_millis()),
                ..wait.clone()
            };
            state
                .store
                .resolve_waits(
                    &[Transition {
                        wait: cancelled,
                        outcome: None,
                    }],
                    &[],
                )
                .await?;
        }
        let wait = state.store.wait(&id).await?.ok_or_else(no_wait)?;
        Ok(answer(200, &wait))
    })
    .await
}
