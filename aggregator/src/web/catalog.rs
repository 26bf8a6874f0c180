//! The event catalog's API: entries for owners (their project), decisions on PII flags,
//! and the backoffice list across projects. Another project's entries answer 404, never
//! 403: a 403 would confirm that the event name exists there.

use std::sync::Arc;

use bytes::Bytes;
use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use warp::reply::Response;

use super::State;
use super::auth::Scope;
use super::reply::{ApiError, data, json, respond};
use super::session::Credentials;
use crate::catalog::FlagStatus;
use crate::catalog::fold::Key;
use crate::store::{CatalogFilter, CatalogRow};

/// Default page size of the catalog lists.
const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
const MAX_LIMIT: i64 = 500;

/// Query of `GET /v1/catalog` and `GET /v1/backoffice/catalog`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The project (required with the admin token on `/v1/catalog`).
    pub project_id: Option<String>,
    /// Event names starting with this.
    pub event: Option<String>,
    /// `api` or `system`.
    pub source: Option<String>,
    /// `true`: only entries likely to carry PII; `false`: only the others.
    pub pii: Option<bool>,
    /// Backoffice only: entries with drift recorded at or after this RFC 3339 time.
    pub drift_since: Option<String>,
    /// Page size, 1–500.
    pub limit: Option<i64>,
    /// The `cursor` of the previous page's last entry.
    pub after: Option<String>,
}

/// Query of `GET /v1/catalog/{event}` and the decisions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryQuery {
    /// The project (admin token only).
    pub project_id: Option<String>,
    /// `api` (default) or `system`.
    pub source: Option<String>,
}

/// Body of `POST /v1/catalog/{event}/pii/{confirm|dismiss}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    /// The flagged field, e.g. `payload.card`.
    path: String,
    /// `api` (default) or `system`.
    source: Option<String>,
}

fn time(ms: i64) -> Value {
    Value::String(Timestamp::from_unix_millis(ms).to_rfc3339())
}

/// The list object of an entry: identity, counts, PII and a drift summary.
pub fn summary(row: &CatalogRow) -> Value {
    json!({
        "object": "catalog_entry",
        "project_id": row.key.project_id,
        "event": row.key.event,
        "source": row.key.source,
        "first_seen_at": time(row.first_seen_at),
        "last_seen_at": time(row.last_seen_at),
        "count": row.count,
        "pii": row.entry.pii_json(),
        "drift": {"count": row.drift_count, "last_at": row.drift_last_at.map(time)},
        "cursor": cursor(&row.key),
    })
}

/// The full entry: the summary with schema, examples and drift records.
pub fn detail(row: &CatalogRow) -> Value {
    let mut out = summary(row);
    if let (Value::Object(out), Value::Object(detail)) = (&mut out, row.entry.detail_json()) {
        for (field, value) in detail {
            out.insert(field, value);
        }
    }
    out
}

/// An opaque page cursor naming an entry.
fn cursor(key: &Key) -> String {
    use base64::Engine as _;
    let raw = format!("{}\n{}\n{}", key.project_id, key.event, key.source);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn parse_cursor(text: &str) -> Result<Key, ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::param(ErrorCode::InvalidRequest, "after", "unknown cursor");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = raw.splitn(3, '\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(p), Some(e), Some(s)) => Ok(Key {
            project_id: p.to_owned(),
            event: e.to_owned(),
            source: s.to_owned(),
        }),
        _ => Err(bad()),
    }
}

fn source(given: Option<String>) -> Result<String, ApiError> {
    match given.as_deref() {
        None | Some("api") => Ok("api".to_owned()),
        Some("system") => Ok("system".to_owned()),
        Some(_) => Err(ApiError::param(
            ErrorCode::InvalidRequest,
            "source",
            "source is `api` or `system`",
        )),
    }
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no such {what}"))
}

/// The project a request reads: a key's own project; with the admin token, `project_id`.
/// A key naming another project gets 404, like an entry that does not exist.
fn project_of(scope: &Scope, project_id: Option<String>) -> Result<String, ApiError> {
    match (scope, project_id) {
        (Scope::Project(own), None) => Ok(own.clone()),
        (Scope::Project(own), Some(asked)) if &asked == own => Ok(asked),
        (Scope::Project(_), Some(_)) => Err(not_found("project")),
        (Scope::Admin, Some(asked)) => Ok(asked),
        (Scope::Admin, None) => Err(ApiError::param(
            ErrorCode::InvalidRequest,
            "project_id",
            "project_id is required with the admin token (GET /v1/backoffice/catalog lists every project)",
        )),
    }
}

/// One page of entries; the filter asks for one more than the page holds, which tells
/// whether another page exists.
async fn list_page(state: &State, filter: &CatalogFilter) -> Result<Response, ApiError> {
    let rows = state.store.catalog(filter).await?;
    let page = (filter.limit - 1).max(0) as usize;
    let data: Vec<Value> = rows.iter().take(page).map(summary).collect();
    let body = json!({"object": "list", "data": data, "has_more": rows.len() > page});
    Ok(json(200, body.to_string().into_bytes()))
}

fn filter_of(query: ListQuery, project_id: Option<String>) -> Result<CatalogFilter, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::param(
            ErrorCode::InvalidRequest,
            "limit",
            format!("limit is between 1 and {MAX_LIMIT}"),
        ));
    }
    let source = match query.source {
        Some(given) => Some(source(Some(given))?),
        None => None,
    };
    let drift_since = match query.drift_since {
        Some(text) => Some(
            Timestamp::parse_rfc3339(&text)
                .map_err(|_| {
                    ApiError::param(
                        ErrorCode::InvalidRequest,
                        "drift_since",
                        "drift_since is an RFC 3339 time, e.g. 2026-06-01T00:00:00Z",
                    )
                })?
                .unix_millis(),
        ),
        None => None,
    };
    Ok(CatalogFilter {
        project_id,
        event_prefix: query.event.filter(|e| !e.is_empty()),
        source,
        pii: query.pii,
        drift_since,
        after: query.after.as_deref().map(parse_cursor).transpose()?,
        // One more than asked: tells whether another page exists.
        limit: limit + 1,
    })
}

/// `GET /v1/catalog`.
pub async fn list(state: Arc<State>, credentials: Credentials, query: ListQuery) -> Response {
    respond(async {
        let scope = state.scope(&credentials).await?;
        if query.drift_since.is_some() {
            return Err(ApiError::param(
                ErrorCode::InvalidRequest,
                "drift_since",
                "drift_since filters GET /v1/backoffice/catalog",
            ));
        }
        let project = project_of(&scope, query.project_id.clone())?;
        list_page(&state, &filter_of(query, Some(project))?).await
    })
    .await
}

/// `GET /v1/backoffice/catalog`: every project's entries (admin token).
pub async fn backoffice(state: Arc<State>, credentials: Credentials, query: ListQuery) -> Response {
    respond(async {
        let scope = state.scope(&credentials).await?;
        if scope != Scope::Admin {
            // Not even the route's existence is confirmed to a project key.
            return Err(ApiError::new(ErrorCode::NotFound, "no such route"));
        }
        let project_id = query.project_id.clone();
        list_page(&state, &filter_of(query, project_id)?).await
    })
    .await
}

/// `GET /v1/catalog/{event}`.
pub async fn one(
    event: String,
    state: Arc<State>,
    credentials: Credentials,
    query: EntryQuery,
) -> Response {
    respond(async {
        let scope = state.scope(&credentials).await?;
        let key = Key {
            project_id: project_of(&scope, query.project_id)?,
            event,
            source: source(query.source)?,
        };
        match state.store.catalog_entry(&key).await? {
            Some(row) => Ok(data(200, detail(&row).to_string().as_bytes())),
            None => Err(not_found("catalog entry")),
        }
    })
    .await
}

/// `POST /v1/catalog/{event}/pii/{confirm|dismiss}`.
pub async fn decide(
    event: String,
    action: String,
    state: Arc<State>,
    credentials: Credentials,
    query: EntryQuery,
    body: Bytes,
) -> Response {
    respond(async {
        let scope = state.scope_to_change(&credentials).await?;
        let status = match action.as_str() {
            "confirm" => FlagStatus::Confirmed,
            "dismiss" => FlagStatus::Dismissed,
            _ => return Err(ApiError::new(ErrorCode::NotFound, "no such route")),
        };
        let project_id = project_of(&scope, query.project_id)?;
        let decision: Decision = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("send {{\"path\": \"payload.…\"}}: {e}"),
            )
        })?;
        let key = Key {
            project_id,
            event,
            source: source(decision.source.or(query.source))?,
        };
        let path = decision.path;
        let changed = state
            .store
            .decide_flag(&key, &path, status, Timestamp::now().unix_millis())
            .await?;
        match changed {
            Some(Ok(row)) => Ok(data(200, detail(&row).to_string().as_bytes())),
            Some(Err(_)) => Err(ApiError::param(
                ErrorCode::NotFound,
                "path",
                format!("no PII flag at `{path}` in this entry"),
            )),
            None => Err(not_found("catalog entry")),
        }
    })
    .await
}
