//! `wait_for_event`: what a wait is, what matches it, and what its outcome looks like,
//! without I/O (the matcher and the timer are `wait_matcher.rs`, the SQL `store/waits.rs`).
//!
//! A wait counts events of its name, for its contact, received at or after `after` and
//! before `timeout_at`, whose payload equals every `match` entry. Whichever looks second
//! finds the other: a stored event is checked against open waits after it committed, and a
//! new wait against stored events after it committed. The status moves once, by a
//! conditional update, so two finders (or a finder and the timer) cannot both win.

use std::collections::BTreeMap;

use sendrealm_common::error_code::ErrorCode;
use sendrealm_common::event::Timestamp;
use sendrealm_common::identity;
use sendrealm_common::validate::{self, Invalid};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{OutboxRow, WaitCandidate, WaitRow};

/// Open.
pub const WAITING: &str = "waiting";
/// An event resumed it.
pub const RECEIVED: &str = "received";
/// Its time ran out.
pub const TIMED_OUT: &str = "timed_out";
/// Its client cancelled it.
pub const CANCELLED: &str = "cancelled";

/// Longest wait: a year (and never longer than the project keeps its data).
pub const MAX_HORIZON_MS: i64 = 365 * 86_400_000;
/// Most `match` entries.
const MAX_MATCH: usize = 20;
/// Largest `metadata`, serialized.
const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Longest wait id.
const MAX_ID_LEN: usize = 200;
/// Subject prefix of outcomes: `<this>.<project_id>.received|timed_out`.
pub const OUTCOME_PREFIX: &str = "sendrealm.waits";

/// The body of `POST /v1/waits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitRequest {
    id: String,
    project_id: String,
    waiting_for_event_name: String,
    #[serde(default)]
    contact_id: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, rename = "match")]
    match_fields: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    after: Option<String>,
    timeout_at: String,
    #[serde(default)]
    metadata: Option<Value>,
}

fn bad(code: ErrorCode, param: &str, message: impl Into<String>) -> Invalid {
    Invalid::field(code, param, message)
}

fn time(param: &str, text: &str) -> Result<i64, Invalid> {
    Timestamp::parse_rfc3339(text)
        .map(Timestamp::unix_millis)
        .map_err(|_| {
            bad(
                ErrorCode::InvalidRequest,
                param,
                format!("`{param}` is an RFC 3339 time, e.g. 2026-06-08T14:15:00Z"),
            )
        })
}

/// A registration read from its body: the project it names, and the wait to store once the
/// project's retention (`retention_ms`) is known.
pub struct Registration {
    /// The project named.
    pub project_id: String,
    request: WaitRequest,
    hash: String,
}

/// Reads a registration body.
pub fn parse(body: &[u8]) -> Result<Registration, Invalid> {
    use sha2::Digest as _;
    let request: WaitRequest = validate::parse_json(body)?;
    // Hashed in a canonical form (keys sorted, no spacing): the same registration sent
    // with other formatting is still the same.
    let canonical = serde_json::from_slice::<Value>(body)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let hash = hex::encode(sha2::Sha256::digest(canonical.as_bytes()));
    Ok(Registration {
        project_id: request.project_id.clone(),
        request,
        hash,
    })
}

impl Registration {
    /// Validates the registration at `now` for a project keeping data `retention_ms`.
    pub fn into_row(self, now: i64, retention_ms: i64) -> Result<WaitRow, Invalid> {
        let r = self.request;
        let id_ok = !r.id.is_empty()
            && r.id.len() <= MAX_ID_LEN
            && r.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        if !id_ok {
            return Err(bad(
                ErrorCode::InvalidRequest,
                "id",
                format!("`id` is 1-{MAX_ID_LEN} of A-Z a-z 0-9 - _ . :"),
            ));
        }
        validate::check_event_name(&r.waiting_for_event_name).map_err(|mut e| {
            e.param = Some("waiting_for_event_name".into());
            e
        })?;
        let (identity_type, identity_value) = if let Some(contact) = r.contact_id {
            ("contact_id", validate::check_contact_id(&contact)?)
        } else if let Some(external) = r.external_id.filter(|v| !v.trim().is_empty()) {
            ("external_id", external.trim().to_owned())
        } else if let Some(email) = r.email {
            let email = identity::normalize_email(&email).map_err(|_| {
                bad(
                    ErrorCode::InvalidEmail,
                    "email",
                    "`email` is not an email address",
                )
            })?;
            ("email", email)
        } else {
            return Err(bad(
                ErrorCode::MissingIdentity,
                "email",
                "one of `contact_id`, `external_id` or `email` names the contact waited for",
            ));
        };
        let fields = r.match_fields.unwrap_or_default();
        if fields.len() > MAX_MATCH {
            return Err(bad(
                ErrorCode::InvalidRequest,
                "match",
                format!("`match` holds at most {MAX_MATCH} paths"),
            ));
        }
        if let Some(path) = fields
            .keys()
            .find(|p| !p.starts_with("payload.") || p.len() <= 8)
        {
            return Err(bad(
                ErrorCode::InvalidRequest,
                "match",
                format!("`{path}`: match paths name payload fields, e.g. `payload.currency`"),
            ));
        }
        let after = match r.after.as_deref() {
            Some(text) => time("after", text)?,
            None => now,
        };
        let timeout_at = time("timeout_at", &r.timeout_at)?;
        if timeout_at <= after {
            return Err(bad(
                ErrorCode::InvalidRequest,
                "timeout_at",
                "`timeout_at` is after `after`",
            ));
        }
        let horizon = MAX_HORIZON_MS.min(retention_ms);
        if timeout_at - now > horizon {
            return Err(bad(
                ErrorCode::InvalidRequest,
                "timeout_at",
                format!(
                    "a wait lasts at most {} days (a year, and never longer than the project's retention)",
                    horizon / 86_400_000
                ),
            ));
        }
        let metadata = r.metadata.unwrap_or_else(|| json!({}));
        if !metadata.is_object() {
            return Err(bad(
                ErrorCode::InvalidFieldType,
                "metadata",
                "`metadata` is an object",
            ));
        }
        let metadata = metadata.to_string();
        if metadata.len() > MAX_METADATA_BYTES {
            return Err(bad(
                ErrorCode::InvalidRequest,
                "metadata",
                format!("`metadata` is at most {MAX_METADATA_BYTES} bytes"),
            ));
        }
        Ok(WaitRow {
            id: r.id,
            project_id: r.project_id,
            event: r.waiting_for_event_name,
            identity_type: identity_type.to_owned(),
            identity_value,
            match_json: Value::Object(fields).to_string(),
            after_at: after,
            timeout_at,
            metadata,
            request_hash: self.hash,
            status: WAITING.to_owned(),
            resumed_at: None,
            timed_out_at: None,
            cancelled_at: None,
            event_id: None,
            event_occurred_at: None,
            created_at: now,
        })
    }
}

/// The value at a dotted path (`payload.a.b`) of an event's payload.
fn at<'a>(payload: &'a Value, path: &str) -> Option<&'a Value> {
    path.strip_prefix("payload.")?
        .split('.')
        .try_fold(payload, |value, key| value.get(key))
}

/// Whether a stored event satisfies an open wait whose contact is `contact` (type-exact
/// equality; a missing field never equals anything, null included).
pub fn matches(wait: &WaitRow, contact: uuid::Uuid, event: &WaitCandidate) -> bool {
    if event.project_id != wait.project_id
        || event.event != wait.event
        || event.contact_id != Some(contact)
        || event.received_at < wait.after_at
        || event.received_at >= wait.timeout_at
    {
        return false;
    }
    let fields: BTreeMap<String, Value> =
        serde_json::from_str(&wait.match_json).unwrap_or_default();
    if fields.is_empty() {
        return true;
    }
    let Ok(payload) = serde_json::from_str::<Value>(&event.payload) else {
        return false;
    };
    fields
        .iter()
        .all(|(path, want)| at(&payload, path) == Some(want))
}

/// The earliest event (receive time, then store order) among those that match.
pub fn first_match<'a>(
    wait: &WaitRow,
    contact: uuid::Uuid,
    events: impl IntoIterator<Item = &'a WaitCandidate>,
) -> Option<&'a WaitCandidate> {
    events
        .into_iter()
        .filter(|e| matches(wait, contact, e))
        .min_by_key(|e| (e.received_at, e.seq))
}

fn rfc3339(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| {
        Value::String(Timestamp::from_unix_millis(ms).to_rfc3339())
    })
}

/// The wait object of the API and of published outcomes.
pub fn object(w: &WaitRow) -> Value {
    let outcome_branch = match w.status.as_str() {
        RECEIVED => json!("received"),
        TIMED_OUT => json!("timeout"),
        _ => Value::Null,
    };
    let resumed_by_event = match (&w.event_id, w.status.as_str()) {
        (Some(id), RECEIVED) => json!({
            "id": id,
            "event_name": w.event,
            "occurred_at": rfc3339(w.event_occurred_at),
        }),
        _ => Value::Null,
    };
    json!({
        "id": w.id,
        "object": "wait",
        "project_id": w.project_id,
        "waiting_for_event_name": w.event,
        "status": w.status,
        "resolved_identity_type": w.identity_type,
        "resolved_identity_value": w.identity_value,
        "match": serde_json::from_str::<Value>(&w.match_json).unwrap_or_else(|_| json!({})),
        "after": rfc3339(Some(w.after_at)),
        "timeout_at": rfc3339(Some(w.timeout_at)),
        "resumed_at": rfc3339(w.resumed_at),
        "timed_out_at": rfc3339(w.timed_out_at),
        "cancelled_at": rfc3339(w.cancelled_at),
        "outcome_branch": outcome_branch,
        "resumed_by_event": resumed_by_event,
        "metadata": serde_json::from_str::<Value>(&w.metadata).unwrap_or_else(|_| json!({})),
        "created_at": rfc3339(Some(w.created_at)),
    })
}

/// The wait after `event` resumed it at `now`.
pub fn received(w: &WaitRow, event: &WaitCandidate, now: i64) -> WaitRow {
    WaitRow {
        status: RECEIVED.to_owned(),
        resumed_at: Some(now),
        event_id: Some(event.id.hyphenated().to_string()),
        event_occurred_at: Some(event.occurred_at),
        ..w.clone()
    }
}

/// The wait after its time ran out at `now`.
pub fn timed_out(w: &WaitRow, now: i64) -> WaitRow {
    WaitRow {
        status: TIMED_OUT.to_owned(),
        timed_out_at: Some(now),
        ..w.clone()
    }
}

/// The outcome to publish for a resolved wait: on `sendrealm.waits.<project>.<status>`,
/// with `Nats-Msg-Id` `wait:<id>` (one outcome per wait, whatever republishes it).
pub fn outcome(w: &WaitRow, now: i64) -> OutboxRow {
    OutboxRow {
        id: format!("wait:{}", w.id),
        project_id: w.project_id.clone(),
        subject: format!("{OUTCOME_PREFIX}.{}.{}", w.project_id, w.status),
        msg_id: format!("wait:{}", w.id),
        payload: object(w).to_string(),
        created_at: now,
    }
}

#[cfg(test)]
mod tests;
