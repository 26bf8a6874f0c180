//! The backoffice's dead letters: listed by project, inspected (the event redacted), and
//! replayed one by one or all pending ones of a project, with a progress page. The same
//! operations as `sendrealm-aggregator dlq list|show|replay`.

use std::sync::Arc;

use async_nats::jetstream;
use sendrealm_common::error_code::ErrorCode;
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::State;
use super::pages;
use super::replays::{self, ReplayJob};
use super::reply::ApiError;
use super::session::{Credentials, Form, check_form, see_other};
use super::staff::{frame, with_staff};
use super::staff_figures as sv;
use super::views;
use crate::catalog::redact;
use crate::dlq::{record, replay};
use crate::store::DeadLetterFilter;

/// Dead letters listed per page, and replayed per bulk replay.
const DEAD_LETTER_ROWS: i64 = 500;

/// Query of the dead-letter list.
#[derive(Debug, Default, Deserialize)]
pub struct DeadLetterQuery {
    /// Only this project.
    #[serde(default)]
    pub project_id: String,
    /// `all`, or (default) only those not replayed.
    #[serde(default)]
    pub state: String,
    /// A message to show (after a replay).
    #[serde(default)]
    pub notice: String,
}

/// `GET /backoffice/dead-letters`.
pub async fn dead_letters(
    state: Arc<State>,
    credentials: Credentials,
    query: DeadLetterQuery,
) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        let project_id = Some(query.project_id.trim().to_owned()).filter(|p| !p.is_empty());
        let show_all = query.state == "all";
        let rows = state
            .store
            .dead_letters(&DeadLetterFilter {
                project_id: project_id.clone(),
                reason: None,
                since: None,
                pending_only: !show_all,
                limit: DEAD_LETTER_ROWS,
            })
            .await?;
        let counts = state.store.dlq_counts().await?;
        let pending = project_id
            .as_ref()
            .and_then(|p| counts.iter().find(|c| &c.project_id == p))
            .map_or(0, |c| c.pending);
        Ok(pages::render(
            StatusCode::OK,
            &sv::BoDeadLetters {
                frame: frame(&session),
                notice: query.notice.clone(),
                filter_project: project_id.unwrap_or_default(),
                show_all,
                pending,
                rows: rows.iter().map(sv::DeadLetterLine::of).collect(),
            },
        ))
    })
    .await
}

/// `GET /backoffice/dead-letters/{id}`.
pub async fn dead_letter(id: String, state: Arc<State>, credentials: Credentials) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        let row =
            state.store.dead_letter(&id).await?.ok_or_else(|| {
                ApiError::new(ErrorCode::NotFound, "There is no such dead letter.")
            })?;
        // The event as stored, redacted like catalog examples: no value reaches the page.
        let event = record::payload_bytes(&row)
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .map(|value| serde_json::to_string_pretty(&redact(&value)).unwrap_or_default())
            .unwrap_or_else(|| "(the original was removed before it was recorded)".into());
        Ok(pages::render(
            StatusCode::OK,
            &sv::BoDeadLetter {
                frame: frame(&session),
                d: sv::DeadLetterLine::of(&row),
                event,
            },
        ))
    })
    .await
}

/// `POST /backoffice/dead-letters/{id}/replay`.
pub async fn replay_one(
    id: String,
    state: Arc<State>,
    credentials: Credentials,
    form: Form,
) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        check_form(credentials, &session, form.get("csrf").map(String::as_str))?;
        let row = state
            .store
            .dead_letter(&id)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "There is no such dead letter."))?;
        let js = jetstream::new(state.client.clone());
        replay::replay_one(&state.store, &js, &row)
            .await
            .map_err(replay_failure)?;
        tracing::info!(actor = %session.actor, id = %row.id, project_id = %row.project_id, "Dead letter replayed from the backoffice.");
        Ok(see_other(&format!(
            "/backoffice/dead-letters/{}",
            views::encode(&row.id)
        )))
    })
    .await
}

fn replay_failure(error: replay::ReplayError) -> ApiError {
    match error {
        replay::ReplayError::Store(error) => error.into(),
        replay::ReplayError::NoOriginal(_) => {
            ApiError::new(ErrorCode::InvalidRequest, error.to_string())
        }
        replay::ReplayError::Publish { .. } => {
            ApiError::new(ErrorCode::ServiceUnavailable, error.to_string())
        }
    }
}

/// `POST /backoffice/dead-letters/replay`: replays every pending dead letter of a
/// project in the background; the progress page follows it.
pub async fn replay_all(state: Arc<State>, credentials: Credentials, form: Form) -> Response {
    let shared = Arc::clone(&state);
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        check_form(credentials, &session, form.get("csrf").map(String::as_str))?;
        let project_id = form.get("project_id").cloned().unwrap_or_default();
        if shared.store.project(&project_id).await?.is_none() {
            return Err(ApiError::new(ErrorCode::NotFound, "There is no such project."));
        }
        let rows = shared
            .store
            .dead_letters(&DeadLetterFilter {
                project_id: Some(project_id.clone()),
                reason: None,
                since: None,
                pending_only: true,
                limit: DEAD_LETTER_ROWS,
            })
            .await?;
        let job_id = replays::new_job_id();
        let job = ReplayJob::new(&project_id, rows.len());
        shared.replays.insert(&job_id, job);
        tracing::info!(actor = %session.actor, %project_id, records = rows.len(), "Bulk replay started from the backoffice.");
        let worker = Arc::clone(&shared);
        let id = job_id.clone();
        tokio::spawn(async move {
            let js = jetstream::new(worker.client.clone());
            for row in rows {
                let outcome = replay::replay_one(&worker.store, &js, &row).await;
                worker.replays.update(&id, |job| match outcome {
                    Ok(()) => job.replayed += 1,
                    Err(error) => {
                        job.failed += 1;
                        job.last_error = error.to_string();
                    }
                });
            }
            worker.replays.update(&id, |job| job.finished = true);
        });
        Ok(see_other(&format!("/backoffice/replays/{job_id}")))
    })
    .await
}

/// `GET /backoffice/replays/{id}`: a bulk replay's progress (refreshes itself until done).
pub async fn replay_progress(id: String, state: Arc<State>, credentials: Credentials) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        let job = state.replays.get(&id).ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound, "No such replay on this aggregator.")
        })?;
        Ok(pages::render(
            StatusCode::OK,
            &sv::BoReplay {
                frame: frame(&session),
                job,
            },
        ))
    })
    .await
}
