//! `POST /v1/system-events`: the internal path platform services emit system events on,
//! with a service token (see [`crate::internal`]).

use std::sync::Arc;

use bytes::Bytes;
use sendrealm_common::apikey;
use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::{data_envelope, data_json};
use warp::reply::Response;

use super::State;
use super::reply::{ApiError, json, respond};
use crate::internal::{self, InternalError, Target};
use crate::service_tokens;

/// The service (its token's name) making a request, or why there is none.
pub(super) async fn service(
    state: &State,
    authorization: Option<&str>,
) -> Result<String, ApiError> {
    let token = authorization
        .and_then(apikey::bearer_token)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingApiKey,
                "send `Authorization: Bearer <service token>`",
            )
        })?;
    match service_tokens::find(&state.store, token).await? {
        Some(row) => Ok(row.name),
        None => Err(ApiError::new(
            ErrorCode::InvalidApiKey,
            "this path takes a service token; project API keys, owner tokens and the admin token are not one",
        )),
    }
}

impl From<InternalError> for ApiError {
    fn from(error: InternalError) -> Self {
        match error {
            InternalError::Invalid(invalid) => invalid.into(),
            InternalError::UnknownProject(id) => ApiError::param(
                ErrorCode::NotFound,
                "project_id",
                format!("no project {id}"),
            ),
            InternalError::Publish(reason) => {
                tracing::warn!(%reason, "A system event was not published.");
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "JetStream did not take the event; nothing was stored, retry",
                )
            }
            InternalError::Store(error) => error.into(),
        }
    }
}

/// `POST /v1/system-events`.
pub async fn post(
    state: Arc<State>,
    authorization: Option<String>,
    content_type: Option<String>,
    body: Bytes,
) -> Response {
    respond(async {
        let service = service(&state, authorization.as_deref()).await?;
        if !content_type
            .as_deref()
            .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/json"))
        {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send `Content-Type: application/json`",
            ));
        }
        let target = Target {
            subject_prefix: state.nats.stream.subject_prefix.clone(),
            region: state.region.clone(),
        };
        let js = async_nats::jetstream::new(state.client.clone());
        let accepted = internal::accept(&state.store, &js, &target, &body).await?;
        tracing::debug!(%service, event = %accepted.event.event, project_id = %accepted.event.project_id, "System event accepted.");
        let data = data_json(
            &accepted.json,
            accepted.event.resolved_identity(),
            Some(accepted.duplicate),
        );
        Ok(json(
            if accepted.duplicate { 200 } else { 202 },
            data_envelope(&data),
        ))
    })
    .await
}
