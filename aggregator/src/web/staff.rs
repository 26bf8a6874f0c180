//! The backoffice pages, for staff signed in with the admin token: the catalog across
//! projects, latency and failures, and project policies (edit, with the history of who
//! changed what). Dead letters are `staff_dead_letters.rs`. Every change is a POST form
//! carrying the session's CSRF token.

use std::sync::Arc;

use async_nats::jetstream;
use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::State;
use super::dashboard::{self, ListQuery, rows_page};
use super::pages::problem;
use super::pages::{self, Frame};
use super::reply::ApiError;
use super::session::Form;
use super::session::{Credentials, check_form, see_other};
use super::sign_in;
use super::staff_views as sv;
use super::views;
use crate::policies::PolicyBucket;
use crate::projects::{self, ProjectError};
use crate::sessions::{Role, Session};

/// The backoffice pages' frame.
pub(super) fn frame(session: &Session) -> Frame {
    Frame {
        home: "/backoffice/catalog".into(),
        staff: true,
        csrf: session.csrf_token.clone(),
        sign_out: "/backoffice/logout".into(),
    }
}

/// The staff session, or a redirect to sign in.
async fn staff(state: &State, credentials: &Credentials) -> Result<Session, Response> {
    match state.session(credentials).await {
        Ok(Some(session)) if session.role == Role::Staff => Ok(session),
        Ok(_) => Err(see_other("/backoffice/login")),
        Err(error) => Err(problem(Frame::default(), error)),
    }
}

/// Runs a page handler for a staff session: sign-in redirect, error page, or the page.
pub(super) async fn with_staff<F, Fut>(
    state: &State,
    credentials: &Credentials,
    body: F,
) -> Response
where
    F: FnOnce(Session) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let session = match staff(state, credentials).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let page_frame = frame(&session);
    match body(session).await {
        Ok(response) => response,
        Err(error) => problem(page_frame, error),
    }
}

/// `GET /backoffice`.
pub async fn home(state: Arc<State>, credentials: Credentials) -> Response {
    match staff(&state, &credentials).await {
        Ok(_) => see_other("/backoffice/catalog"),
        Err(response) => response,
    }
}

/// `GET /backoffice/login`.
pub async fn login_page(state: Arc<State>) -> Response {
    sign_in::sign_in_form(&state, true, None).await
}

/// `POST /backoffice/login`.
pub async fn login(state: Arc<State>, credentials: Credentials, form: Form) -> Response {
    sign_in::sign_in(&state, &credentials, &form, true).await
}

/// `POST /backoffice/logout`.
pub async fn logout(state: Arc<State>, credentials: Credentials, form: Form) -> Response {
    sign_in::sign_out(&state, &credentials, &form, "/backoffice/login").await
}

/// `GET /backoffice/catalog`: every project's entries, filtered.
pub async fn catalog(state: Arc<State>, credentials: Credentials, query: ListQuery) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        let params = |after: &str| {
            views::query(&[
                ("project_id", &query.project_id),
                ("event", &query.event),
                ("source", &query.source),
                ("pii", &query.pii),
                ("drift_since", &query.drift_since),
                ("after", after),
            ])
        };
        // A bad filter shows on the page, with the filters kept for correction.
        let (rows, next, error) = match dashboard::filter_of(&query, None) {
            Ok(filter) => {
                // Staff open an entry through the owner pages (a staff session may read them).
                let (rows, next) = rows_page(state, &filter, "/dashboard", |after| {
                    format!("/backoffice/catalog{}", params(after))
                })
                .await?;
                (rows, next, String::new())
            }
            Err(error) => (Vec::new(), String::new(), error.message),
        };
        Ok(pages::render(
            if error.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            },
            &sv::BoCatalog {
                frame: frame(&session),
                as_of: views::when(Timestamp::now().unix_millis()),
                reload: format!("/backoffice/catalog{}", params(&query.after)),
                error,
                filter_project: query.project_id.clone(),
                filter_event: query.event.clone(),
                filter_source: query.source.clone(),
                filter_pii: query.pii.clone(),
                filter_drift: query.drift_since.clone(),
                rows,
                show_project: true,
                next,
            },
        ))
    })
    .await
}

/// `GET /backoffice/latency`.
pub async fn latency(state: Arc<State>, credentials: Credentials) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        let view = super::backoffice::view(state).await?;
        Ok(pages::render(
            StatusCode::OK,
            &super::staff_figures::BoLatency::of(frame(&session), &view),
        ))
    })
    .await
}

/// `GET /backoffice/projects`.
pub async fn projects_page(state: Arc<State>, credentials: Credentials) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        let rows = state.store.projects().await?;
        Ok(pages::render(
            StatusCode::OK,
            &sv::BoProjects {
                frame: frame(&session),
                rows: rows.iter().map(sv::ProjectLine::of).collect(),
            },
        ))
    })
    .await
}

/// Query of the project page.
#[derive(Debug, Default, Deserialize)]
pub struct ProjectQuery {
    /// A message to show (after a save).
    #[serde(default)]
    pub notice: String,
}

async fn project_page(
    state: &State,
    session: &Session,
    id: &str,
    notice: String,
    error: Option<String>,
) -> Result<Response, ApiError> {
    let row = state
        .store
        .project(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "There is no such project."))?;
    let history = state.store.policy_changes(id, 50).await?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(pages::render(
        status,
        &sv::BoProject {
            frame: frame(session),
            p: sv::ProjectLine::of(&row),
            notice,
            error: error.unwrap_or_default(),
            history: history.iter().map(sv::ChangeLine::of).collect(),
        },
    ))
}

/// `GET /backoffice/projects/{id}`.
pub async fn project(
    id: String,
    state: Arc<State>,
    credentials: Credentials,
    query: ProjectQuery,
) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        project_page(state, &session, &id, query.notice, None).await
    })
    .await
}

/// `POST /backoffice/projects/{id}`: saves the policy, records who changed what, and
/// publishes it to the agents.
pub async fn save_project(
    id: String,
    state: Arc<State>,
    credentials: Credentials,
    form: Form,
) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_staff(state, credentials, |session| async move {
        check_form(credentials, &session, form.get("csrf").map(String::as_str))?;
        let changes = match sv::changes_of(&form) {
            Ok(changes) => changes,
            Err(message) => {
                return project_page(state, &session, &id, String::new(), Some(message)).await;
            }
        };
        let actor = format!("backoffice:{}", session.actor);
        match projects::update(&state.store, &id, changes, &actor).await {
            Ok(_) => {}
            Err(ProjectError::Invalid { field, reason }) => {
                let message = format!("Invalid {field}: {reason}.");
                return project_page(state, &session, &id, String::new(), Some(message)).await;
            }
            Err(ProjectError::NotFound(_)) => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    "There is no such project.",
                ));
            }
            Err(ProjectError::Store(error)) => return Err(error.into()),
        }
        // Agents get it now; if NATS is away, the aggregator's reconciliation publishes it
        // once NATS is back.
        let js = jetstream::new(state.client.clone());
        let notice = match PolicyBucket::open(&js, &state.nats).await {
            Ok(bucket) => match bucket.publish(&state.store, &id).await {
                Ok(_) => "Saved; agents apply it within seconds.",
                Err(_) => "Saved; agents get it once NATS answers again.",
            },
            Err(_) => "Saved; agents get it once NATS answers again.",
        };
        Ok(see_other(&format!(
            "/backoffice/projects/{}{}",
            views::encode(&id),
            views::query(&[("notice", notice)])
        )))
    })
    .await
}
