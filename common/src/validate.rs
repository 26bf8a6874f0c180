//! The rules every event passes before it is accepted, and the typed refusal.
//!
//! [`parse_request`] turns a JSON body into an [`EventRequest`], naming the field at fault;
//! [`validate`] turns a request into the [`Event`] that is published. Both are pure: the
//! agent calls them on the request path and the aggregator again on what it consumes.

use serde_json::value::RawValue;

use crate::error_code::ErrorCode;
use crate::event::{Event, EventObject, EventRequest, Source, Timestamp, empty_payload};
use crate::identity::{self, IdentityProblem};

/// Longest event name, in bytes.
pub const MAX_EVENT_NAME_LEN: usize = 128;
/// Longest idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// How far in the future `occurred_at` may be (clock skew allowance), in milliseconds.
pub const MAX_FUTURE_SKEW_MILLIS: i64 = 24 * 60 * 60 * 1000;
/// Names starting with this are emitted by the platform only.
pub const RESERVED_PREFIX: &str = "sendrealm.";

/// Why a request was refused: a stable code, the field at fault and a readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Invalid {
    /// The stable error code.
    pub code: ErrorCode,
    /// The request field at fault, when there is one.
    pub param: Option<String>,
    /// A message for humans.
    pub message: String,
    /// Structured facts about the refusal (e.g. a limit), for the error's `details`.
    pub details: Option<serde_json::Value>,
}

impl Invalid {
    /// A refusal naming a field.
    pub fn field(code: ErrorCode, param: &str, message: impl Into<String>) -> Self {
        Invalid {
            code,
            param: Some(param.to_owned()),
            message: message.into(),
            details: None,
        }
    }

    /// A refusal of the request as a whole.
    pub fn request(code: ErrorCode, message: impl Into<String>) -> Self {
        Invalid {
            code,
            param: None,
            message: message.into(),
            details: None,
        }
    }

    /// The same refusal with structured details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }
}

/// What validation needs to know besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// The authenticated project.
    pub project_id: &'a str,
    /// The project's `event_payload_limit_bytes`.
    pub payload_limit_bytes: u32,
    /// Receipt time; also the default `occurred_at`.
    pub received_at: Timestamp,
    /// The accepting region.
    pub region: &'a str,
    /// `Api` for customers; `System` for the platform's own `sendrealm.*` events.
    pub source: Source,
}

/// Parses a JSON body into a request, mapping serde's error to a code and the field at fault.
pub fn parse_request(body: &[u8]) -> Result<EventRequest, Invalid> {
    parse_json(body)
}

/// Parses any JSON body, mapping errors the way [`parse_request`] does.
///
/// Every body the APIs take is a JSON object; anything else is `invalid_request`.
pub fn parse_json<'de, T: serde::Deserialize<'de>>(body: &'de [u8]) -> Result<T, Invalid> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(Invalid::request(
                ErrorCode::InvalidRequest,
                "the body must be a JSON object",
            ));
        }
        _ => {
            return Err(Invalid::request(
                ErrorCode::MalformedJson,
                "malformed JSON: the body is not a JSON document",
            ));
        }
    }
    // Fast path without path tracking; only a failure pays for a second, tracked parse
    // that names the field at fault.
    match serde_json::from_slice(body) {
        Ok(value) => Ok(value),
        Err(_) => Err(explain::<T>(body)),
    }
}

fn explain<'de, T: serde::Deserialize<'de>>(body: &'de [u8]) -> Invalid {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(err) => map_serde_error(err),
        Ok(_) => match de.end() {
            Err(err) => {
                Invalid::request(ErrorCode::MalformedJson, format!("malformed JSON: {err}"))
            }
            Ok(()) => Invalid::request(ErrorCode::MalformedJson, "malformed JSON"),
        },
    }
}

fn map_serde_error(err: serde_path_to_error::Error<serde_json::Error>) -> Invalid {
    let path = err.path().to_string();
    let inner = err.inner();
    if !matches!(inner.classify(), serde_json::error::Category::Data) {
        return Invalid::request(ErrorCode::MalformedJson, format!("malformed JSON: {inner}"));
    }
    // serde_json appends " at line L column C"; the field path says more.
    let text = inner.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
    if let Some(rest) = text.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let param = join_path(&path, field);
        return Invalid::field(
            ErrorCode::UnknownField,
            &param,
            format!("unknown field `{param}`"),
        );
    }
    if let Some(rest) = text.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        let param = join_path(&path, field);
        return Invalid::field(
            ErrorCode::MissingField,
            &param,
            format!("`{param}` is required"),
        );
    }
    Invalid::field(
        ErrorCode::InvalidFieldType,
        &path,
        format!("`{path}` has the wrong type: {text}"),
    )
}

/// serde_path_to_error reports the path of the containing object for unknown and missing
/// fields; joining gives the full name (`events[3].emial`).
fn join_path(path: &str, field: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_owned()
    } else if path.ends_with(field) {
        path.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

/// Checks the event-name grammar: lowercase dot-separated segments, at least two, each
/// starting with a letter and made of `a-z`, `0-9`, `_`; at most 128 bytes.
pub fn check_event_name(name: &str) -> Result<(), Invalid> {
    let bad = |why: &str| {
        Invalid::field(
            ErrorCode::InvalidEventName,
            "event",
            format!(
                "invalid event name {name:?}: {why}; names are lowercase dot-separated segments \
                 such as `order.completed`"
            ),
        )
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_EVENT_NAME_LEN {
        return Err(bad(&format!("longer than {MAX_EVENT_NAME_LEN} bytes")));
    }
    let mut segments = 0;
    for segment in name.split('.') {
        segments += 1;
        let mut bytes = segment.bytes();
        match bytes.next() {
            None => return Err(bad("it has an empty segment")),
            Some(first) if !first.is_ascii_lowercase() => {
                return Err(bad("each segment must start with a lowercase letter"));
            }
            Some(_) => {}
        }
        if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(bad("segments may contain only a-z, 0-9 and _"));
        }
    }
    if segments < 2 {
        return Err(bad("it needs at least two segments"));
    }
    Ok(())
}

/// Checks the name for its source: customers may not use the reserved prefix, and the
/// platform may use nothing else.
pub fn check_event_name_for(name: &str, source: Source) -> Result<(), Invalid> {
    check_event_name(name)?;
    let reserved = name.starts_with(RESERVED_PREFIX);
    match source {
        Source::Api if reserved => Err(Invalid::field(
            ErrorCode::ReservedEventName,
            "event",
            format!("event names starting with `{RESERVED_PREFIX}` are reserved for the platform"),
        )),
        Source::System if !reserved => Err(Invalid::field(
            ErrorCode::InvalidEventName,
            "event",
            format!("system event names must start with `{RESERVED_PREFIX}`"),
        )),
        Source::Api | Source::System => Ok(()),
    }
}

fn identity_error(field: &str, problem: IdentityProblem) -> Invalid {
    let code = match problem {
        IdentityProblem::InvalidEmail => ErrorCode::InvalidEmail,
        IdentityProblem::Blank
        | IdentityProblem::Placeholder(_)
        | IdentityProblem::TooLong(_)
        | IdentityProblem::ControlCharacters => ErrorCode::InvalidIdentity,
    };
    Invalid::field(code, field, format!("`{field}` {problem}"))
}

fn check_optional_id(field: &str, value: Option<String>) -> Result<Option<String>, Invalid> {
    value
        .map(|v| {
            identity::check_id(&v)
                .map(str::to_owned)
                .map_err(|p| identity_error(field, p))
        })
        .transpose()
}

/// Deepest nesting of objects and arrays accepted in `payload` (the payload object itself
/// is level 1). Deeper documents break clients that parse JSON recursively (Python's
/// `json` stops near 1000 levels, many parsers far earlier) when they read events back.
pub const MAX_PAYLOAD_DEPTH: usize = 32;

/// Whether well-formed JSON `text` nests objects and arrays deeper than `max`. A byte scan:
/// brackets inside strings do not count.
pub fn nesting_exceeds(text: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn check_payload(payload: Option<Box<RawValue>>, limit: u32) -> Result<Box<RawValue>, Invalid> {
    let Some(payload) = payload else {
        return Ok(empty_payload());
    };
    if !payload.get().starts_with('{') {
        return Err(Invalid::field(
            ErrorCode::InvalidPayload,
            "payload",
            "`payload` must be a JSON object",
        ));
    }
    if nesting_exceeds(payload.get(), MAX_PAYLOAD_DEPTH) {
        return Err(Invalid::field(
            ErrorCode::PayloadTooDeep,
            "payload",
            format!("`payload` nests objects and arrays more than {MAX_PAYLOAD_DEPTH} levels deep"),
        )
        .with_details(serde_json::json!({"max_depth": MAX_PAYLOAD_DEPTH})));
    }
    let size = payload.get().len();
    if size > limit as usize {
        return Err(Invalid::field(
            ErrorCode::PayloadTooLarge,
            "payload",
            format!(
                "`payload` is {size} bytes; this project's event_payload_limit_bytes is {limit}"
            ),
        )
        .with_details(serde_json::json!({"limit_bytes": limit, "size_bytes": size})));
    }
    Ok(payload)
}

fn check_occurred_at(value: Option<&str>, received_at: Timestamp) -> Result<Timestamp, Invalid> {
    let Some(text) = value else {
        return Ok(received_at);
    };
    let at = Timestamp::parse_rfc3339(text).map_err(|_| {
        Invalid::field(
            ErrorCode::InvalidOccurredAt,
            "occurred_at",
            format!(
                "`occurred_at` {text:?} is not an RFC 3339 time with an offset, \
                 e.g. 2026-06-08T14:15:00.000Z"
            ),
        )
    })?;
    if at > received_at.plus_millis(MAX_FUTURE_SKEW_MILLIS) {
        return Err(Invalid::field(
            ErrorCode::InvalidOccurredAt,
            "occurred_at",
            "`occurred_at` is more than 24 hours in the future",
        ));
    }
    Ok(at)
}

/// Checks an idempotency key: 1–255 characters, not blank, no control characters.
pub fn check_idempotency_key(key: &str) -> Result<(), Invalid> {
    let chars = key.chars().count();
    let bad = |why: &str| {
        Invalid::field(
            ErrorCode::InvalidIdempotencyKey,
            "idempotency_key",
            format!("`idempotency_key` {why}"),
        )
    };
    if chars == 0 || key.trim().is_empty() {
        return Err(bad("must not be blank"));
    }
    if chars > MAX_IDEMPOTENCY_KEY_LEN {
        return Err(bad(&format!(
            "must be at most {MAX_IDEMPOTENCY_KEY_LEN} characters"
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(bad("must contain printable characters only"));
    }
    Ok(())
}

/// Checks a `contact_id`: the platform's contact ids are UUIDs (the legacy `ct_<hex>` form
/// is read too); anything else can only name nobody, so it is refused here rather than
/// accepted and never stored. Returns the canonical form.
pub fn check_contact_id(value: &str) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if identity::is_placeholder(trimmed) {
        return Err(identity_error(
            "contact_id",
            if trimmed.is_empty() {
                IdentityProblem::Blank
            } else {
                IdentityProblem::Placeholder(trimmed.to_owned())
            },
        ));
    }
    crate::id::parse_contact_id(trimmed).ok_or_else(|| {
        Invalid::field(
            ErrorCode::InvalidIdentity,
            "contact_id",
            "`contact_id` must be a contact id: a UUID such as \
             c671f89b-3ec1-4c58-9ad2-4ef8c2917cda",
        )
    })
}

/// Validates a parsed request and builds the event to publish.
pub fn validate(request: EventRequest, ctx: &EventContext<'_>) -> Result<Event, Invalid> {
    check_event_name_for(&request.event, ctx.source)?;
    let contact_id = request
        .contact_id
        .as_deref()
        .map(check_contact_id)
        .transpose()?;
    let external_id = check_optional_id("external_id", request.external_id)?;
    let email = request
        .email
        .map(|e| identity::normalize_email(&e).map_err(|p| identity_error("email", p)))
        .transpose()?;
    if contact_id.is_none() && external_id.is_none() && email.is_none() {
        // `param` names the field most clients fill in; the message names all three.
        return Err(Invalid::field(
            ErrorCode::MissingIdentity,
            "email",
            "one of `contact_id`, `external_id` or `email` is required",
        ));
    }
    let payload = check_payload(request.payload, ctx.payload_limit_bytes)?;
    let occurred_at = check_occurred_at(request.occurred_at.as_deref(), ctx.received_at)?;
    if let Some(key) = &request.idempotency_key {
        check_idempotency_key(key)?;
    }
    let id = crate::id::event_id(ctx.project_id, request.idempotency_key.as_deref());
    Ok(Event {
        id,
        object: EventObject::Event,
        project_id: ctx.project_id.to_owned(),
        event: request.event,
        contact_id,
        external_id,
        email,
        payload,
        occurred_at,
        received_at: ctx.received_at,
        idempotency_key: request.idempotency_key,
        source: ctx.source,
        region: ctx.region.to_owned(),
    })
}

#[cfg(test)]
mod tests;
