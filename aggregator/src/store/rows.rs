//! Rows as stored, and the filters of the list queries. Times are Unix milliseconds.

use sqlx::FromRow;
use uuid::Uuid;

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ProjectRow {
    /// `proj_…`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Largest accepted payload.
    pub event_payload_limit_bytes: i64,
    /// Sustained events per second.
    pub rate_limit_per_sec: i64,
    /// Burst size.
    pub rate_limit_burst: i64,
    /// Retention, seconds from receipt.
    pub retention_secs: i64,
    /// Open waits allowed at once; no cap when `None`.
    pub max_active_waits: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A wait as stored (see `crate::waits`).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct WaitRow {
    /// The client's id.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// The event waited for.
    pub event: String,
    /// `contact_id`, `external_id` or `email`.
    pub identity_type: String,
    /// Its value (emails normalized).
    pub identity_value: String,
    /// `{"payload.path": value}` as JSON.
    pub match_json: String,
    /// Events received at or after this count (ms).
    pub after_at: i64,
    /// The wait times out then (ms).
    pub timeout_at: i64,
    /// The client's metadata, JSON.
    pub metadata: String,
    /// SHA-256 of the registration, to tell a repeat from a different wait with the same id.
    pub request_hash: String,
    /// `waiting`, `received`, `timed_out`, `cancelled`.
    pub status: String,
    /// When an event resumed it (ms).
    pub resumed_at: Option<i64>,
    /// When it timed out (ms).
    pub timed_out_at: Option<i64>,
    /// When it was cancelled (ms).
    pub cancelled_at: Option<i64>,
    /// The event that resumed it.
    pub event_id: Option<String>,
    /// That event's `occurred_at` (ms).
    pub event_occurred_at: Option<i64>,
    /// Registered (ms).
    pub created_at: i64,
}

/// A stored event as wait matching sees it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct WaitCandidate {
    /// Store order.
    pub seq: i64,
    /// The event id.
    pub id: uuid::Uuid,
    /// Its project.
    pub project_id: String,
    /// Its name.
    pub event: String,
    /// The contact it resolved to.
    pub contact_id: Option<uuid::Uuid>,
    /// Its payload JSON.
    pub payload: String,
    /// Received (ms).
    pub received_at: i64,
    /// Occurred (ms).
    pub occurred_at: i64,
}

/// One hour of one figure of a project (see `crate::figures`).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct FigureRow {
    /// The project.
    pub project_id: String,
    /// The hour's start (ms).
    pub hour: i64,
    /// Stage or counter name.
    pub name: String,
    /// Events or the counter's value.
    pub count: i64,
    /// Sum of latencies (µs).
    pub sum_us: i64,
    /// A stage's buckets as JSON.
    pub histogram: Option<String>,
}

/// An owner token as stored: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OwnerTokenRow {
    /// `otk_…`.
    pub id: String,
    /// The project it opens.
    pub project_id: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Revocation time (ms), if revoked.
    pub revoked_at: Option<i64>,
}

/// A service token as stored: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ServiceTokenRow {
    /// `stk_…`.
    pub id: String,
    /// Which service holds it (`mail`, `automations`, …).
    pub name: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Revocation time (ms), if revoked.
    pub revoked_at: Option<i64>,
}

/// A browser session as stored: the cookie's id only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SessionRow {
    /// SHA-256 of the session id, hex.
    pub id_hash: String,
    /// `sign_in`, `owner` or `staff`.
    pub kind: String,
    /// The project an owner session opens.
    pub project_id: Option<String>,
    /// The token behind it (`otk_…`, or `admin`); empty before sign-in.
    pub actor: String,
    /// The token every form of this session carries.
    pub csrf_token: String,
    /// Opened (ms).
    pub created_at: i64,
    /// Last request (ms), for the idle timeout.
    pub last_seen_at: i64,
    /// Absolute expiry (ms).
    pub expires_at: i64,
}

/// One recorded change of a project's policy.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PolicyChangeRow {
    /// The project.
    pub project_id: String,
    /// Who changed it: `cli`, or the token behind a backoffice session.
    pub actor: String,
    /// When (ms).
    pub changed_at: i64,
    /// `{"field": [old, new]}` as JSON.
    pub changes: String,
}

/// An API key as stored: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ApiKeyRow {
    /// `key_…`.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Revocation time (ms), if revoked.
    pub revoked_at: Option<i64>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct EventRow {
    /// Row order (commit order, for cursors).
    pub seq: i64,
    /// A UUID (see `sendrealm_common::id`).
    pub id: Uuid,
    /// Project.
    pub project_id: String,
    /// Event name.
    pub event: String,
    /// The contact it resolved to; `None` when its identity could not be resolved.
    pub contact_id: Option<Uuid>,
    /// The `contact_id` the sender gave, if any.
    pub sent_contact_id: Option<Uuid>,
    /// The sender's `external_id`.
    pub external_id: Option<String>,
    /// The normalised email.
    pub email: Option<String>,
    /// Payload JSON as sent.
    pub payload: String,
    /// When it happened (ms).
    pub occurred_at: i64,
    /// When the agent received it (ms).
    pub received_at: i64,
    /// When it was committed here (ms).
    pub stored_at: i64,
    /// The idempotency key.
    pub idempotency_key: Option<String>,
    /// `api` or `system`.
    pub source: String,
    /// Accepting region.
    pub region: String,
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ContactRow {
    /// A UUIDv7.
    pub id: Uuid,
    /// Project.
    pub project_id: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// One identifier of a contact.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct IdentifierRow {
    /// `external_id` or `email`.
    pub kind: String,
    /// The value.
    pub value: String,
    /// When it was linked (ms).
    pub created_at: i64,
}

/// A system event waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OutboxRow {
    /// The system event's id.
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Subject to publish on.
    pub subject: String,
    /// `Nats-Msg-Id`.
    pub msg_id: String,
    /// The event object JSON.
    pub payload: String,
    /// When it was written (ms).
    pub created_at: i64,
}

/// A dead letter: an event that could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DeadLetterRow {
    /// `dlq_…`.
    pub id: String,
    /// The stream the original was in.
    pub stream: String,
    /// Its sequence there.
    pub stream_seq: i64,
    /// Its project (`_unknown` when it could not be read).
    pub project_id: String,
    /// Its subject.
    pub subject: String,
    /// Its `Nats-Msg-Id`.
    pub msg_id: Option<String>,
    /// Its headers, as a JSON object of arrays.
    pub headers: String,
    /// Its body (UTF-8, or base64 when `payload_base64`); `None` when it was gone.
    pub payload: Option<String>,
    /// Whether `payload` is base64.
    pub payload_base64: bool,
    /// The original had already been removed (retention) when the record was made.
    pub original_missing: bool,
    /// `terminated` or `max_deliveries`.
    pub reason: String,
    /// The processing error.
    pub error: String,
    /// Deliveries when it was given up on.
    pub deliveries: i64,
    /// First failure (ms).
    pub first_failed_at: i64,
    /// Last failure (ms).
    pub last_failed_at: i64,
    /// When the record was made (ms).
    pub created_at: i64,
    /// When it was last replayed (ms).
    pub replayed_at: Option<i64>,
    /// How often it was replayed.
    pub replay_count: i64,
}

/// Which dead letters to list.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    /// Only this project.
    pub project_id: Option<String>,
    /// Only this reason.
    pub reason: Option<String>,
    /// Only records made at or after this time (ms).
    pub since: Option<i64>,
    /// Only records not replayed yet.
    pub pending_only: bool,
    /// At most this many.
    pub limit: i64,
}

/// Dead letters of one project.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DlqCount {
    /// Project.
    pub project_id: String,
    /// Records not replayed.
    pub pending: i64,
    /// Records replayed.
    pub replayed: i64,
    /// Creation time of the oldest pending record (ms).
    pub oldest_pending_at: Option<i64>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this project (`None`: all, for admins).
    pub project_id: Option<String>,
    /// Only events of this contact.
    pub contact_id: Option<Uuid>,
    /// Only this event name.
    pub event: Option<String>,
    /// Only rows older than this `seq` (the cursor).
    pub before_seq: Option<i64>,
    /// At most this many.
    pub limit: i64,
}
