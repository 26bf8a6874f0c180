//! Stable error codes: the `code` of every error body, and the HTTP status each one means.
//!
//! Codes are part of the public API: never rename one, only add. `docs/errors.md` lists
//! them and a test keeps that table in step with [`ErrorCode::ALL`].

/// Every error the public APIs can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The body is not well-formed JSON.
    MalformedJson,
    /// The body is JSON but not the expected shape (e.g. not an object).
    InvalidRequest,
    /// `Content-Type` is not `application/json`.
    UnsupportedMediaType,
    /// No `Authorization: Bearer` header.
    MissingApiKey,
    /// The API key is unknown or revoked.
    InvalidApiKey,
    /// The event name starts with the platform's reserved `sendrealm.` prefix.
    ReservedEventName,
    /// No route for this path.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// `payload` exceeds the project's `event_payload_limit_bytes`.
    PayloadTooLarge,
    /// The request body exceeds the agent's hard cap.
    BodyTooLarge,
    /// A top-level field the API does not know.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type.
    InvalidFieldType,
    /// The event name breaks the naming rules.
    InvalidEventName,
    /// None of `contact_id`, `external_id`, `email` was given.
    MissingIdentity,
    /// An identity value is a placeholder, blank or too long.
    InvalidIdentity,
    /// The email is not a syntactically valid address.
    InvalidEmail,
    /// `occurred_at` is not RFC 3339 with an offset, or too far in the future.
    InvalidOccurredAt,
    /// `idempotency_key` is empty, too long or not printable.
    InvalidIdempotencyKey,
    /// `payload` is not a JSON object.
    InvalidPayload,
    /// `payload` nests objects and arrays deeper than allowed.
    PayloadTooDeep,
    /// A batch is empty or holds more events than allowed.
    InvalidBatch,
    /// The project is over its rate limit.
    RateLimited,
    /// JetStream did not durably accept the event in time; nothing was stored.
    ServiceUnavailable,
    /// An unexpected failure; details are in the service log only.
    InternalError,
    /// A form or session call without its CSRF token, or sent from another site.
    InvalidCsrfToken,
    /// Another resource already has this id (a wait registered differently).
    Conflict,
}

impl ErrorCode {
    /// All codes, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::MalformedJson,
        ErrorCode::InvalidRequest,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MissingApiKey,
        ErrorCode::InvalidApiKey,
        ErrorCode::ReservedEventName,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::BodyTooLarge,
        ErrorCode::UnknownField,
        ErrorCode::MissingField,
        ErrorCode::InvalidFieldType,
        ErrorCode::InvalidEventName,
        ErrorCode::MissingIdentity,
        ErrorCode::InvalidIdentity,
        ErrorCode::InvalidEmail,
        ErrorCode::InvalidOccurredAt,
        ErrorCode::InvalidIdempotencyKey,
        ErrorCode::InvalidPayload,
        ErrorCode::PayloadTooDeep,
        ErrorCode::InvalidBatch,
        ErrorCode::RateLimited,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
        ErrorCode::InvalidCsrfToken,
        ErrorCode::Conflict,
    ];

    /// Position in [`ErrorCode::ALL`], for per-code counters.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The stable snake_case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MissingApiKey => "missing_api_key",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::ReservedEventName => "reserved_event_name",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidFieldType => "invalid_field_type",
            ErrorCode::InvalidEventName => "invalid_event_name",
            ErrorCode::MissingIdentity => "missing_identity",
            ErrorCode::InvalidIdentity => "invalid_identity",
            ErrorCode::InvalidEmail => "invalid_email",
            ErrorCode::InvalidOccurredAt => "invalid_occurred_at",
            ErrorCode::InvalidIdempotencyKey => "invalid_idempotency_key",
            ErrorCode::InvalidPayload => "invalid_payload",
            ErrorCode::PayloadTooDeep => "payload_too_deep",
            ErrorCode::InvalidBatch => "invalid_batch",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::InvalidCsrfToken => "invalid_csrf_token",
            ErrorCode::Conflict => "conflict",
        }
    }

    /// The HTTP status this code is answered with.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::MalformedJson | ErrorCode::InvalidRequest => 400,
            ErrorCode::MissingApiKey | ErrorCode::InvalidApiKey => 401,
            ErrorCode::ReservedEventName | ErrorCode::InvalidCsrfToken => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::PayloadTooLarge | ErrorCode::BodyTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::UnknownField
            | ErrorCode::MissingField
            | ErrorCode::InvalidFieldType
            | ErrorCode::InvalidEventName
            | ErrorCode::MissingIdentity
            | ErrorCode::InvalidIdentity
            | ErrorCode::InvalidEmail
            | ErrorCode::InvalidOccurredAt
            | ErrorCode::InvalidIdempotencyKey
            | ErrorCode::InvalidPayload
            | ErrorCode::PayloadTooDeep
            | ErrorCode::InvalidBatch => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::InternalError => 500,
            ErrorCode::ServiceUnavailable => 503,
        }
    }

    /// The error `type`, grouping codes the way clients usually branch on them.
    pub const fn error_type(self) -> &'static str {
        match self.status() {
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            500..=599 => "api_error",
            _ => "invalid_request_error",
        }
    }

    /// Whether sending the same request again later can succeed.
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited | ErrorCode::ServiceUnavailable | ErrorCode::InternalError
        )
    }
}

/// The inner error object of every error body, in the documented order
/// `{"code","message","details"}` plus ours, `"type"` and `"param"`.
#[derive(Debug, serde::Serialize)]
pub struct ErrorBody<'a> {
    /// The stable code.
    pub code: &'static str,
    /// A message for humans.
    pub message: &'a str,
    /// Structured facts about the refusal (a limit, a count), or `null`.
    pub details: Option<&'a serde_json::Value>,
    /// The code's group.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The field at fault.
    pub param: Option<&'a str>,
}

impl<'a> ErrorBody<'a> {
    /// The body for a code, message and field.
    pub fn new(code: ErrorCode, message: &'a str, param: Option<&'a str>) -> Self {
        ErrorBody {
            kind: code.error_type(),
            code: code.as_str(),
            message,
            details: None,
            param,
        }
    }

    /// The same body with details.
    pub fn with_details(mut self, details: Option<&'a serde_json::Value>) -> Self {
        self.details = details;
        self
    }

    /// The whole error response body, `{"status": <HTTP status>, "error": {…}}`, as JSON.
    pub fn envelope_json(&self, status: u16) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Envelope<'b, 'c> {
            status: u16,
            error: &'b ErrorBody<'c>,
        }
        serde_json::to_vec(&Envelope {
            status,
            error: self,
        })
        .unwrap_or_default()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
        }
    }

    #[test]
    fn index_matches_position_in_all() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(code.index(), i);
        }
    }

    #[test]
    fn error_bodies_have_the_documented_shape() {
        let details = serde_json::json!({"limit_bytes": 10});
        let body = ErrorBody::new(ErrorCode::PayloadTooLarge, "too big", Some("payload"))
            .with_details(Some(&details));
        let json: serde_json::Value = serde_json::from_slice(&body.envelope_json(413)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": 413, "error": {"code": "payload_too_large",
                "message": "too big", "details": {"limit_bytes": 10},
                "type": "invalid_request_error", "param": "payload"}})
        );
        let plain = ErrorBody::new(ErrorCode::NotFound, "no", None).envelope_json(404);
        let json: serde_json::Value = serde_json::from_slice(&plain).unwrap();
        assert!(json["error"]["details"].is_null() && json["error"]["param"].is_null());
    }

    #[test]
    fn documented_table_matches_codes() {
        let doc = include_str!("../../docs/errors.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.status());
            assert!(
                doc.contains(&row),
                "docs/errors.md lacks the row starting {row}"
            );
        }
    }
}
