//! The one mapping from refusals to HTTP: status, headers and the error envelope.
//!
//! `{"status","error":{"code","message","details","type","param"}}` for every error,
//! including warp's own rejections (unknown route, wrong method). 5xx bodies never carry
//! internal detail.

use std::convert::Infallible;

use sendrealm_common::error_code::{ErrorBody, ErrorCode};
use warp::http::{HeaderName, HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::ingest::IngestError;
use crate::ratelimit::RateInfo;

/// An error answer: code, message, field, and the headers that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Stable code; decides the status.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// The request field at fault.
    pub param: Option<String>,
    /// Structured facts for the error's `details` (a limit, a wait); boxed, as they are
    /// rare and errors travel in `Result`s.
    pub details: Option<Box<serde_json::Value>>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
    /// `RateLimit-*` headers.
    pub rate: Option<RateInfo>,
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    /// An error with a code and message only.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            param: None,
            details: None,
            retry_after: None,
            rate: None,
        }
    }

    /// Maps an ingest refusal; `retry_after_secs` is the agent's 503 advice.
    pub fn from_ingest(error: IngestError, retry_after_secs: u64) -> Self {
        let code = error.code();
        let mut api = ApiError::new(code, error.to_string());
        match error {
            IngestError::Invalid(invalid) => {
                api.message = invalid.message;
                api.param = invalid.param;
                api.details = invalid.details.map(Box::new);
            }
            IngestError::RateLimited(exceeded) => {
                api.retry_after = Some(exceeded.retry_after_secs);
                api.rate = Some(exceeded.info);
                api.details = Some(Box::new(serde_json::json!({
                    "limit": exceeded.info.limit,
                    "retry_after_secs": exceeded.retry_after_secs,
                })));
            }
            IngestError::Auth(_) | IngestError::Publish(_) | IngestError::Original(_) => {}
        }
        if code == ErrorCode::ServiceUnavailable {
            api.message = "the event could not be durably stored right now; nothing was \
                           accepted. Retry with the same idempotency_key."
                .into();
            api.retry_after = Some(retry_after_secs);
            api.details = Some(Box::new(
                serde_json::json!({ "retry_after_secs": retry_after_secs }),
            ));
        }
        if code.status() >= 500 && code != ErrorCode::ServiceUnavailable {
            // The cause goes to the log, never to the client.
            tracing::error!(error = %api.message, "Internal error answering a request.");
            api.message = "internal error".into();
        }
        api
    }

    /// The error object.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody::new(self.code, &self.message, self.param.as_deref())
            .with_details(self.details.as_deref())
    }

    /// The body of this error, `{"status","error"}`; also a batch item.
    pub fn envelope_json(&self) -> Vec<u8> {
        self.body().envelope_json(self.code.status())
    }

    /// The full HTTP response.
    pub fn into_response(self) -> Response {
        let json = self.envelope_json();
        let mut response = json_response(
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json.into(),
        );
        let headers = response.headers_mut();
        if self.code.status() == 401 {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(rate) = self.rate {
            set_rate_headers(&mut response, rate);
        }
        response
    }
}

/// A JSON response with a status.
pub fn json_response(status: StatusCode, body: bytes::Bytes) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Sets `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
pub fn set_rate_headers(response: &mut Response, rate: RateInfo) {
    // Named once: a `&str` name is parsed and checked on every insert.
    static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
    static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
    static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
    let headers = response.headers_mut();
    headers.insert(LIMIT.clone(), HeaderValue::from(rate.limit));
    headers.insert(REMAINING.clone(), HeaderValue::from(rate.remaining));
    headers.insert(RESET.clone(), HeaderValue::from(rate.reset_secs));
}

/// Turns any rejection into the error envelope.
pub async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    let error = if let Some(api) = rejection.find::<ApiError>() {
        api.clone()
    } else if rejection.is_not_found() {
        ApiError::new(ErrorCode::NotFound, "no such route")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            "method not allowed on this route",
        )
    } else if rejection.find::<warp::reject::InvalidHeader>().is_some() {
        ApiError::new(ErrorCode::InvalidRequest, "a request header is malformed")
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(ErrorCode::BodyTooLarge, "the request body is too large")
    } else {
        tracing::warn!(?rejection, "Unhandled rejection.");
        ApiError::new(ErrorCode::InternalError, "internal error")
    };
    Ok(error.into_response())
}
