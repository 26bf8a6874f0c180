//! The read API: what was stored, for owners (their project) and operators (any).

use std::sync::Arc;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::{Event, EventObject, Source, Timestamp};
use sendrealm_common::identity;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;
use warp::reply::Response;

use super::State;
use super::auth::Scope;
use super::reply::{ApiError, data, json, respond};
use super::session::Credentials;
use crate::store::{EventFilter, EventRow};

/// A canonical id from the parsers of `sendrealm_common::id`, as a UUID.
fn parse_uuid(canonical: Option<String>) -> Option<Uuid> {
    canonical.and_then(|id| Uuid::try_parse(&id).ok())
}

/// Default page size of `GET /v1/events`.
const DEFAULT_LIMIT: i64 = 20;
/// Largest page size.
const MAX_LIMIT: i64 = 100;

/// Query of `GET /v1/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only this project (admins; owners are limited to their own anyway).
    pub project_id: Option<String>,
    /// Only events of this contact.
    pub contact_id: Option<String>,
    /// Only events of the contact this external id names.
    pub external_id: Option<String>,
    /// Only events of the contact this email names (normalised first).
    pub email: Option<String>,
    /// Only this event name.
    pub event: Option<String>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// The id of the last event of the previous page: the page continues after it.
    pub after: Option<String>,
}

/// A stored event as the API shows it, as the `data` object: the event object (with
/// `contact_id` the contact it resolved to), plus the identifier that won resolution and
/// `identity_status`: `unresolved` when the event named a contact id that does not exist
/// (it is kept, without a contact, rather than refused after its `202`).
pub fn event_data(row: EventRow) -> Result<Vec<u8>, ApiError> {
    let sent_contact = row.sent_contact_id.map(|id| id.hyphenated().to_string());
    let resolved = sendrealm_common::event::resolved_identity(
        sent_contact.as_deref(),
        row.external_id.as_deref(),
        row.email.as_deref(),
    )
    .map(|(kind, value)| (kind, value.to_owned()));
    let status = if row.contact_id.is_some() {
        br#","identity_status":"resolved"}"#.as_slice()
    } else {
        br#","identity_status":"unresolved"}"#.as_slice()
    };
    let event = event_object(row)?;
    let mut data = sendrealm_common::event::data_json(
        &event.to_json(),
        resolved
            .as_ref()
            .map(|(kind, value)| (*kind, value.as_str())),
        None,
    );
    // data_json always closes the object: append one more field.
    data.pop();
    data.extend_from_slice(status);
    Ok(data)
}

/// A stored event as an event object: `contact_id` is the contact it resolved to.
pub fn event_object(row: EventRow) -> Result<Event, ApiError> {
    let payload = RawValue::from_string(row.payload).map_err(|e| {
        tracing::error!(error = %e, event_id = %row.id, "Stored payload is not JSON.");
        ApiError::new(ErrorCode::InternalError, "internal error")
    })?;
    Ok(Event {
        id: row.id.hyphenated().to_string(),
        object: EventObject::Event,
        project_id: row.project_id,
        event: row.event,
        contact_id: row.contact_id.map(|id| id.hyphenated().to_string()),
        external_id: row.external_id,
        email: row.email,
        payload,
        occurred_at: Timestamp::from_unix_millis(row.occurred_at),
        received_at: Timestamp::from_unix_millis(row.received_at),
        idempotency_key: row.idempotency_key,
        source: if row.source == "system" {
            Source::System
        } else {
            Source::Api
        },
        region: row.region,
    })
}

/// `{"object":"list","data":[…],"has_more":…}` around objects already serialised.
fn page(items: &[Vec<u8>], has_more: bool) -> Response {
    let mut out = Vec::with_capacity(items.iter().map(Vec::len).sum::<usize>() + 64);
    out.extend_from_slice(br#"{"object":"list","data":["#);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(br#"],"has_more":"#);
    out.extend_from_slice(if has_more { b"true" } else { b"false" });
    out.push(b'}');
    json(200, out)
}

/// `GET /v1/events`.
pub async fn list_events(
    state: Arc<State>,
    credentials: Credentials,
    query: EventQuery,
) -> Response {
    respond(list(&state, &credentials, query)).await
}

async fn list(
    state: &State,
    credentials: &Credentials,
    query: EventQuery,
) -> Result<Response, ApiError> {
    let scope = state.scope(credentials).await?;
    let project_id = match (&scope, query.project_id) {
        (Scope::Project(own), Some(asked)) if *own != asked => {
            return Err(ApiError::param(
                ErrorCode::NotFound,
                "project_id",
                "no such project",
            ));
        }
        (Scope::Project(own), _) => Some(own.clone()),
        (Scope::Admin, asked) => asked,
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::param(
            ErrorCode::InvalidRequest,
            "limit",
            format!("limit must be 1-{MAX_LIMIT}"),
        ));
    }
    let before_seq = match query.after {
        None => None,
        Some(after) => {
            let no_such = || {
                ApiError::param(
                    ErrorCode::InvalidRequest,
                    "after",
                    format!("`after` names no event of yours: {after:?}"),
                )
            };
            let id =
                parse_uuid(sendrealm_common::id::parse_event_id(&after)).ok_or_else(no_such)?;
            let row = state
                .store
                .event(id)
                .await?
                .filter(|row| scope.allows(&row.project_id))
                .ok_or_else(no_such)?;
            Some(row.seq)
        }
    };
    // An identifier that names no contact matches no event.
    let contact_id = match (query.contact_id, query.external_id, query.email) {
        (Some(contact_id), _, _) => {
            let parsed = parse_uuid(sendrealm_common::id::parse_contact_id(&contact_id));
            Some(parsed.ok_or_else(|| {
                ApiError::param(
                    ErrorCode::InvalidRequest,
                    "contact_id",
                    "`contact_id` must be a contact id (a UUID)",
                )
            })?)
        }
        (None, Some(external_id), _) => {
            match resolve(state, project_id.as_deref(), "external_id", &external_id).await? {
                Some(contact) => Some(contact),
                None => return Ok(page(&[], false)),
            }
        }
        (None, None, Some(email)) => {
            let email = identity::normalize_email(&email).map_err(|p| {
                ApiError::param(ErrorCode::InvalidRequest, "email", format!("`email` {p}"))
            })?;
            match resolve(state, project_id.as_deref(), "email", &email).await? {
                Some(contact) => Some(contact),
                None => return Ok(page(&[], false)),
            }
        }
        (None, None, None) => None,
    };
    let filter = EventFilter {
        project_id,
        contact_id,
        event: query.event,
        before_seq,
        // One more than asked tells whether another page exists.
        limit: limit + 1,
    };
    let mut rows = state.store.events(&filter).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let items = rows
        .into_iter()
        .map(event_data)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(&items, has_more))
}

/// The contact an identifier names in the project, if any.
async fn resolve(
    state: &State,
    project_id: Option<&str>,
    kind: &str,
    value: &str,
) -> Result<Option<Uuid>, ApiError> {
    let project_id = project_id.ok_or_else(|| {
        ApiError::param(
            ErrorCode::InvalidRequest,
            "project_id",
            "filtering by identifier needs project_id",
        )
    })?;
    Ok(state.store.contact_for(project_id, kind, value).await?)
}

/// `GET /v1/events/{id}`.
pub async fn get_event(id: String, state: Arc<State>, credentials: Credentials) -> Response {
    respond(async {
        let scope = state.scope(&credentials).await?;
        let not_found = || ApiError::new(ErrorCode::NotFound, format!("no event {id}"));
        let canonical =
            parse_uuid(sendrealm_common::id::parse_event_id(&id)).ok_or_else(not_found)?;
        let row = state
            .store
            .event(canonical)
            .await?
            .filter(|row| scope.allows(&row.project_id))
            .ok_or_else(not_found)?;
        Ok(data(200, &event_data(row)?))
    })
    .await
}

#[derive(Serialize)]
struct ContactObject {
    id: String,
    object: &'static str,
    project_id: String,
    created_at: Timestamp,
    identifiers: Vec<IdentifierObject>,
}

#[derive(Serialize)]
struct IdentifierObject {
    kind: String,
    value: String,
    linked_at: Timestamp,
}

/// `GET /v1/contacts/{id}`.
pub async fn get_contact(id: String, state: Arc<State>, credentials: Credentials) -> Response {
    respond(async {
        let scope = state.scope(&credentials).await?;
        let not_found = || ApiError::new(ErrorCode::NotFound, format!("no contact {id}"));
        let canonical =
            parse_uuid(sendrealm_common::id::parse_contact_id(&id)).ok_or_else(not_found)?;
        let contact = state
            .store
            .contact(canonical)
            .await?
            .filter(|c| scope.allows(&c.project_id))
            .ok_or_else(not_found)?;
        let identifiers = state
            .store
            .identifiers(contact.id)
            .await?
            .into_iter()
            .map(|i| IdentifierObject {
                kind: i.kind,
                value: i.value,
                linked_at: Timestamp::from_unix_millis(i.created_at),
            })
            .collect();
        let object = ContactObject {
            id: contact.id.hyphenated().to_string(),
            object: "contact",
            project_id: contact.project_id,
            created_at: Timestamp::from_unix_millis(contact.created_at),
            identifiers,
        };
        Ok(data(200, &serde_json::to_vec(&object).unwrap_or_default()))
    })
    .await
}
