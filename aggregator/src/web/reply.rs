//! Responses: JSON bodies and the one error mapping of the aggregator's API.

use std::convert::Infallible;

use sendrealm_common::error_code::{ErrorBody, ErrorCode};
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Stable code; decides the status.
    pub code: ErrorCode,
    /// Message for humans (5xx: generic).
    pub message: String,
    /// The query parameter at fault.
    pub param: Option<String>,
    /// Structured facts for the error's `details`.
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            param: None,
            details: None,
        }
    }

    /// An error naming a parameter.
    pub fn param(code: ErrorCode, param: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            param: Some(param.to_owned()),
            details: None,
        }
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response {
        let body = ErrorBody::new(self.code, &self.message, self.param.as_deref())
            .with_details(self.details.as_ref())
            .envelope_json(self.code.status());
        let mut response = json(self.code.status(), body);
        if self.code.status() == 401 {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.code == ErrorCode::ServiceUnavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response
    }
}

impl From<sendrealm_common::validate::Invalid> for ApiError {
    fn from(invalid: sendrealm_common::validate::Invalid) -> Self {
        ApiError {
            code: invalid.code,
            message: invalid.message,
            param: invalid.param,
            details: invalid.details,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "Store error answering a request.");
        if error.is_transient() {
            ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the database is unavailable; retry shortly",
            )
        } else {
            ApiError::new(ErrorCode::InternalError, "internal error")
        }
    }
}

/// A JSON response.
pub fn json(status: u16, body: Vec<u8>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A success body: `{"data": …}` around a JSON object.
pub fn data(status: u16, object: &[u8]) -> Response {
    json(status, sendrealm_common::event::data_envelope(object))
}

/// How long a request may wait on the database before it is answered `503`: with the
/// database away, callers learn it at once instead of after the pool's acquire timeout.
pub const DATABASE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs a handler's work and answers its response or its error's, or `503` with
/// `Retry-After` when the work did not finish within [`DATABASE_DEADLINE`].
pub async fn respond(
    work: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    match tokio::time::timeout(DATABASE_DEADLINE, work).await {
        Ok(result) => result.unwrap_or_else(ApiError::into_response),
        Err(_) => ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the database did not answer in time; retry shortly",
        )
        .into_response(),
    }
}

/// Turns any rejection into the error envelope.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    let error = if rejection.is_not_found() {
        ApiError::new(ErrorCode::NotFound, "no such route")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route",
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(ErrorCode::BodyTooLarge, "request body too large")
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "send the body with a Content-Length",
        )
    } else if let Some(super::query::BadQuery(why)) = rejection.find() {
        ApiError::new(ErrorCode::InvalidRequest, format!("invalid query: {why}"))
    } else if let Some(invalid) = rejection.find::<warp::reject::InvalidQuery>() {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("invalid query: {invalid}"),
        )
    } else {
        tracing::warn!(?rejection, "Unhandled rejection.");
        ApiError::new(ErrorCode::InternalError, "internal error")
    };
    Ok(error.into_response())
}
