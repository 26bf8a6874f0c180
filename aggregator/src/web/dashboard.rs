//! The owner dashboard (signing in is `sign_in.rs`): the project's event catalog, an
//! event's page (schema hints, drift, redacted examples, volume) and the PII decisions.
//!
//! Every URL names its project; a session of another project gets the same 404 as a
//! project that does not exist. Every state change is a POST form carrying the session's
//! CSRF token, answered with a redirect.

use std::sync::Arc;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::State;
use super::pages::{self, Frame, problem, signed_out};
use super::reply::ApiError;
use super::session::{Credentials, Form, check_form, see_other};
use super::views::{self, EntryDetail, EntryRow};
use crate::catalog::FlagStatus;
use crate::catalog::fold::Key;
use crate::sessions::{Role, Session};
use crate::store::CatalogFilter;

/// Rows per catalog page.
const PAGE_ROWS: i64 = 100;

/// Query of the catalog pages.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Event names starting with this.
    #[serde(default)]
    pub event: String,
    /// `true`, `false` or empty.
    #[serde(default)]
    pub pii: String,
    /// `api`, `system` or empty.
    #[serde(default)]
    pub source: String,
    /// The project (backoffice only).
    #[serde(default)]
    pub project_id: String,
    /// Entries with drift since this date (backoffice only), `YYYY-MM-DD` or RFC 3339.
    #[serde(default)]
    pub drift_since: String,
    /// Continue after this row (`project\nevent\nsource`, as the next link gives it).
    #[serde(default)]
    pub after: String,
}

/// Query of the event page.
#[derive(Debug, Default, Deserialize)]
pub struct EventQuery {
    /// `api` (default) or `system`.
    #[serde(default)]
    pub source: String,
}

fn owner_frame(session: &Session, project: &str) -> Frame {
    Frame {
        home: format!("/dashboard/{project}/catalog"),
        staff: false,
        csrf: session.csrf_token.clone(),
        sign_out: "/dashboard/logout".into(),
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "There is no such page.")
}

/// The session of an owner of `project` (or staff); `Err(redirect)` to sign in when there
/// is none, a 404 page when it belongs to another project.
async fn owner(
    state: &State,
    credentials: &Credentials,
    project: &str,
) -> Result<Session, Response> {
    let session = match state.session(credentials).await {
        Ok(session) => session,
        Err(error) => return Err(problem(signed_out(), error)),
    };
    match session {
        Some(s) if s.role == Role::Owner(project.to_owned()) || s.role == Role::Staff => Ok(s),
        Some(s) if matches!(s.role, Role::Owner(_)) => {
            Err(problem(owner_frame(&s, project), not_found()))
        }
        _ => Err(see_other("/dashboard/login")),
    }
}

/// Runs an owner page's handler: sign-in redirect or 404 page for the wrong session, an
/// error page for a failure, or the handler's response.
async fn with_owner<F, Fut>(
    state: &State,
    credentials: &Credentials,
    project: &str,
    body: F,
) -> Response
where
    F: FnOnce(Session, Frame) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let session = match owner(state, credentials, project).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let frame = owner_frame(&session, project);
    match body(session, frame.clone()).await {
        Ok(response) => response,
        Err(error) => problem(frame, error),
    }
}

/// `GET /dashboard`: the signed-in owner's catalog, or the sign-in page.
pub async fn home(state: Arc<State>, credentials: Credentials) -> Response {
    match state.session(&credentials).await {
        Ok(Some(Session {
            role: Role::Owner(project),
            ..
        })) => see_other(&format!("/dashboard/{project}/catalog")),
        Ok(_) => see_other("/dashboard/login"),
        Err(error) => problem(signed_out(), error),
    }
}

/// A catalog filter from a page query; `project` fixes the project (owner pages).
pub fn filter_of(query: &ListQuery, project: Option<&str>) -> Result<CatalogFilter, ApiError> {
    let bad =
        |param: &str, message: &str| ApiError::param(ErrorCode::InvalidRequest, param, message);
    let pii = match query.pii.as_str() {
        "" => None,
        "true" => Some(true),
        "false" => Some(false),
        _ => return Err(bad("pii", "PII is `true`, `false` or empty")),
    };
    let source = match query.source.as_str() {
        "" => None,
        "api" | "system" => Some(query.source.clone()),
        _ => return Err(bad("source", "source is `api` or `system`")),
    };
    let drift_since = match query.drift_since.trim() {
        "" => None,
        text => {
            let text = if text.len() == 10 {
                format!("{text}T00:00:00Z")
            } else {
                text.to_owned()
            };
            Some(
                Timestamp::parse_rfc3339(&text)
                    .map_err(|_| bad("drift_since", "drift since is a date, e.g. 2026-06-01"))?
                    .unix_millis(),
            )
        }
    };
    let after = match query.after.splitn(3, '\n').collect::<Vec<_>>()[..] {
        [p, e, s] => Some(Key {
            project_id: p.to_owned(),
            event: e.to_owned(),
            source: s.to_owned(),
        }),
        _ => None,
    };
    let project_id = match project {
        Some(project) => Some(project.to_owned()),
        None => Some(query.project_id.trim().to_owned()).filter(|p| !p.is_empty()),
    };
    Ok(CatalogFilter {
        project_id,
        event_prefix: Some(query.event.trim().to_owned()).filter(|e| !e.is_empty()),
        source,
        pii,
        drift_since,
        after,
        limit: PAGE_ROWS + 1,
    })
}

/// One page of rows and the link to the next, if any.
pub async fn rows_page(
    state: &State,
    filter: &CatalogFilter,
    base: &str,
    next_query: impl Fn(&str) -> String,
) -> Result<(Vec<EntryRow>, String), ApiError> {
    let rows = state.store.catalog(filter).await?;
    let more = rows.len() as i64 > PAGE_ROWS;
    let shown: Vec<_> = rows.iter().take(PAGE_ROWS as usize).collect();
    let next = match (more, shown.last()) {
        (true, Some(last)) => next_query(&format!(
            "{}\n{}\n{}",
            last.key.project_id, last.key.event, last.key.source
        )),
        _ => String::new(),
    };
    let rows = shown
        .iter()
        .map(|row| EntryRow::of(row, &format!("{base}/{}/catalog", row.key.project_id)))
        .collect();
    Ok((rows, next))
}

/// `GET /dashboard/{project}/catalog`.
pub async fn catalog(
    project: String,
    state: Arc<State>,
    credentials: Credentials,
    query: ListQuery,
) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_owner(
        state,
        credentials,
        &project.clone(),
        |_session, frame| async move {
            let row = state.store.project(&project).await?.ok_or_else(not_found)?;
            let filter = filter_of(&query, Some(&project))?;
            let path = format!("/dashboard/{project}/catalog");
            let params = |after: &str| {
                views::query(&[
                    ("event", &query.event),
                    ("pii", &query.pii),
                    ("source", &query.source),
                    ("after", after),
                ])
            };
            let (rows, next) = rows_page(state, &filter, "/dashboard", |after| {
                format!("{path}{}", params(after))
            })
            .await?;
            Ok(pages::render(
                StatusCode::OK,
                &pages::Catalog {
                    frame,
                    project_name: row.name,
                    as_of: views::when(Timestamp::now().unix_millis()),
                    reload: format!("{path}{}", params(&query.after)),
                    filter_event: query.event.clone(),
                    filter_pii: query.pii.clone(),
                    filter_source: query.source.clone(),
                    rows,
                    show_project: false,
                    next,
                },
            ))
        },
    )
    .await
}

fn source_of(given: &str) -> Result<String, ApiError> {
    match given {
        "" | "api" => Ok("api".into()),
        "system" => Ok("system".into()),
        _ => Err(ApiError::param(
            ErrorCode::InvalidRequest,
            "source",
            "source is `api` or `system`",
        )),
    }
}

/// `GET /dashboard/{project}/catalog/{event}`.
pub async fn event(
    project: String,
    event: String,
    state: Arc<State>,
    credentials: Credentials,
    query: EventQuery,
) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_owner(
        state,
        credentials,
        &project.clone(),
        |_session, frame| async move {
            let event = percent_decoded(&event)?;
            let key = Key {
                project_id: project.clone(),
                event,
                source: source_of(&query.source)?,
            };
            let row = state
                .store
                .catalog_entry(&key)
                .await?
                .ok_or_else(not_found)?;
            let base = format!("/dashboard/{project}/catalog");
            let detail = EntryDetail::of(&row, &base);
            Ok(pages::render(
                StatusCode::OK,
                &pages::Event {
                    frame,
                    decide: format!(
                        "{}/pii{}",
                        base_path(&detail.summary.href),
                        views::query(&[("source", &key.source)])
                    ),
                    d: detail,
                    back: base,
                },
            ))
        },
    )
    .await
}

/// `href` without its query.
fn base_path(href: &str) -> &str {
    href.split('?').next().unwrap_or(href)
}

/// A path segment as sent (warp leaves percent-encoding in place).
pub fn percent_decoded(segment: &str) -> Result<String, ApiError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(byte) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| not_found())
}

/// `POST /dashboard/{project}/catalog/{event}/pii`: confirm or dismiss a flag.
pub async fn decide(
    project: String,
    event: String,
    state: Arc<State>,
    credentials: Credentials,
    query: EventQuery,
    form: Form,
) -> Response {
    let (state, credentials) = (&*state, &credentials);
    with_owner(
        state,
        credentials,
        &project.clone(),
        |session, _frame| async move {
            check_form(credentials, &session, form.get("csrf").map(String::as_str))?;
            let status = match form.get("action").map(String::as_str) {
                Some("confirm") => FlagStatus::Confirmed,
                Some("dismiss") => FlagStatus::Dismissed,
                _ => {
                    return Err(ApiError::param(
                        ErrorCode::InvalidRequest,
                        "action",
                        "action is `confirm` or `dismiss`",
                    ));
                }
            };
            let path = form.get("path").cloned().unwrap_or_default();
            let key = Key {
                project_id: project.clone(),
                event: percent_decoded(&event)?,
                source: source_of(&query.source)?,
            };
            let changed = state
                .store
                .decide_flag(&key, &path, status, Timestamp::now().unix_millis())
                .await?;
            match changed {
                Some(Ok(_)) => Ok(see_other(&format!(
                    "/dashboard/{project}/catalog/{}{}#pii",
                    views::encode(&key.event),
                    views::query(&[("source", &key.source)])
                ))),
                Some(Err(_)) => Err(ApiError::param(
                    ErrorCode::NotFound,
                    "path",
                    "That field has no PII flag in this event.",
                )),
                None => Err(not_found()),
            }
        },
    )
    .await
}
