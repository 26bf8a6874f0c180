//! The owner dashboard: sign-in with an owner token, the project's event catalog, an
//! event's page (schema hints, drift, redacted examples, volume) and the PII decisions.
//!
//! Every URL names its project; a session of another project gets the same 404 as a
//! project that does not exist. Every state change is a POST form carrying the session's
//! CSRF token, answered with a redirect.

use std::collections::HashMap;
use std::sync::Arc;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use serde::Deserialize;
use warp::http::{StatusCode, header};
use warp::reply::Response;

use super::State;
use super::pages::{self, Frame, Problem, SignIn};
use super::reply::ApiError;
use super::session::{Credentials, check_form, see_other};
use super::views::{self, EntryDetail, EntryRow};
use crate::catalog::FlagStatus;
use crate::catalog::fold::Key;
use crate::sessions::{self, Role, Session, SignInError};
use crate::store::CatalogFilter;

/// Rows per catalog page.
const PAGE_ROWS: i64 = 100;

/// A submitted form's fields.
pub type Form = HashMap<String, String>;

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

fn signed_out() -> Frame {
    Frame {
        home: "/dashboard".into(),
        ..Frame::default()
    }
}

/// An error as a page.
pub fn problem(frame: Frame, error: ApiError) -> Response {
    let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let title = match error.code {
        ErrorCode::NotFound => "Not found",
        ErrorCode::InvalidCsrfToken => "Form expired",
        ErrorCode::ServiceUnavailable => "Try again shortly",
        _ => "Request refused",
    };
    pages::render(
        status,
        &Problem {
            frame,
            title: title.into(),
            message: error.message,
        },
    )
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

/// Opens a sign-in form's session and renders the form, with `error` when a previous
/// attempt failed. Shared by the dashboard and the backoffice.
pub async fn sign_in_form(state: &State, staff: bool, error: Option<SignInError>) -> Response {
    let now = Timestamp::now().unix_millis();
    let opened = match sessions::open(&state.store, Role::SignIn, "", now).await {
        Ok(opened) => opened,
        Err(error) => return problem(signed_out(), sign_in_failure(error)),
    };
    let status = match &error {
        Some(SignInError::BadToken) => StatusCode::UNAUTHORIZED,
        Some(SignInError::StaleForm) => StatusCode::FORBIDDEN,
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
        None => StatusCode::OK,
    };
    let (home, action) = if staff {
        ("/backoffice", "/backoffice/login")
    } else {
        ("/dashboard", "/dashboard/login")
    };
    let mut response = pages::render(
        status,
        &SignIn {
            frame: Frame {
                home: home.into(),
                staff,
                ..Frame::default()
            },
            action: action.into(),
            form_csrf: opened.session.csrf_token.clone(),
            error: error.map(|e| e.to_string()).unwrap_or_default(),
        },
    );
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.set_cookie(&opened));
    response
}

fn sign_in_failure(error: SignInError) -> ApiError {
    match error {
        SignInError::Store(error) => error.into(),
        other => ApiError::new(ErrorCode::InternalError, other.to_string()),
    }
}

/// Signs in from a posted form and redirects to `home` (with `{project}` filled in for an
/// owner); a failure renders the form again with the reason.
pub async fn sign_in(
    state: &State,
    credentials: &Credentials,
    form: &Form,
    staff: bool,
) -> Response {
    let now = Timestamp::now().unix_millis();
    let form_session = match state.session(credentials).await {
        Ok(session) => session,
        Err(error) => return problem(signed_out(), error),
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let admin = if staff {
        match state.admin_token_sha256.as_ref() {
            Some(hash) => Some(hash),
            // Without an admin token configured nobody is staff.
            None => return sign_in_form(state, staff, Some(SignInError::BadToken)).await,
        }
    } else {
        None
    };
    let stale = credentials.cross_site;
    let result = if stale {
        Err(SignInError::StaleForm)
    } else {
        sessions::sign_in(
            &state.store,
            form_session.as_ref(),
            field("csrf"),
            field("token"),
            admin,
            now,
        )
        .await
    };
    match result {
        Ok(opened) => {
            let location = match &opened.session.role {
                Role::Owner(project) => format!("/dashboard/{project}/catalog"),
                _ => "/backoffice/catalog".to_owned(),
            };
            let mut response = see_other(&location);
            response
                .headers_mut()
                .insert(header::SET_COOKIE, state.set_cookie(&opened));
            response
        }
        Err(error) => sign_in_form(state, staff, Some(error)).await,
    }
}

/// Signs out (a POST form with the session's CSRF token) and redirects to `to`.
pub async fn sign_out(state: &State, credentials: &Credentials, form: &Form, to: &str) -> Response {
    match state.session(credentials).await {
        Ok(Some(session)) => {
            if let Err(error) =
                check_form(credentials, &session, form.get("csrf").map(String::as_str))
            {
                return problem(signed_out(), error);
            }
            if let Err(error) = sessions::close(&state.store, &session).await {
                return problem(signed_out(), error.into());
            }
        }
        Ok(None) => {}
        Err(error) => return problem(signed_out(), error),
    }
    let mut response = see_other(to);
    response
        .headers_mut()
        .insert(header::SET_COOKIE, state.clear_cookie());
    response
}

/// `GET /dashboard/login`.
pub async fn login_page(state: Arc<State>) -> Response {
    sign_in_form(&state, false, None).await
}

/// `POST /dashboard/login`.
pub async fn login(state: Arc<State>, credentials: Credentials, form: Form) -> Response {
    sign_in(&state, &credentials, &form, false).await
}

/// `POST /dashboard/logout`.
pub async fn logout(state: Arc<State>, credentials: Credentials, form: Form) -> Response {
    sign_out(&state, &credentials, &form, "/dashboard/login").await
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
    let session = match owner(&state, &credentials, &project).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let frame = owner_frame(&session, &project);
    let result = async {
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
        let (rows, next) = rows_page(&state, &filter, "/dashboard", |after| {
            format!("{path}{}", params(after))
        })
        .await?;
        Ok::<_, ApiError>(pages::Catalog {
            frame: frame.clone(),
            project_name: row.name,
            as_of: views::when(Timestamp::now().unix_millis()),
            reload: format!("{path}{}", params(&query.after)),
            filter_event: query.event.clone(),
            filter_pii: query.pii.clone(),
            filter_source: query.source.clone(),
            rows,
            show_project: false,
            next,
        })
    }
    .await;
    match result {
        Ok(page) => pages::render(StatusCode::OK, &page),
        Err(error) => problem(frame, error),
    }
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
    let session = match owner(&state, &credentials, &project).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let frame = owner_frame(&session, &project);
    let result = async {
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
        Ok::<_, ApiError>(pages::Event {
            frame: frame.clone(),
            decide: format!(
                "{}/pii{}",
                base_path(&detail.summary.href),
                views::query(&[("source", &key.source)])
            ),
            d: detail,
            back: base,
        })
    }
    .await;
    match result {
        Ok(page) => pages::render(StatusCode::OK, &page),
        Err(error) => problem(frame, error),
    }
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
    let session = match owner(&state, &credentials, &project).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let frame = owner_frame(&session, &project);
    let result = async {
        check_form(&credentials, &session, form.get("csrf").map(String::as_str))?;
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
            .catalog_change(&key, Timestamp::now().unix_millis(), |entry| {
                entry.decide(&path, status).map(|()| true).map_err(|_| ())
            })
            .await?;
        match changed {
            Some(Ok(_)) => Ok(format!(
                "/dashboard/{project}/catalog/{}{}#pii",
                views::encode(&key.event),
                views::query(&[("source", &key.source)])
            )),
            Some(Err(())) => Err(ApiError::param(
                ErrorCode::NotFound,
                "path",
                "That field has no PII flag in this event.",
            )),
            None => Err(not_found()),
        }
    }
    .await;
    match result {
        Ok(location) => see_other(&location),
        Err(error) => problem(frame, error),
    }
}
