//! Project administration: create projects, change their policy, issue and revoke keys.
//!
//! The database is the source of truth; every change is then published to the policy
//! bucket. If publishing fails the change is kept and `project sync` republishes it.

use sendrealm_common::apikey::{self, API_KEY_PREFIX};
use sendrealm_common::event::Timestamp;
use sendrealm_common::policy::{
    self, DEFAULT_PAYLOAD_LIMIT_BYTES, DEFAULT_RATE_LIMIT_BURST, DEFAULT_RATE_LIMIT_PER_SEC,
    DEFAULT_RETENTION_DAYS, MAX_PAYLOAD_LIMIT_BYTES, PROJECT_ID_PREFIX, ProjectPolicy,
    SECS_PER_DAY,
};

use crate::store::{ApiKeyRow, PolicyChangeRow, ProjectRow, Store, StoreError};

/// Characters shown of a key so people can tell keys apart.
const KEY_PREFIX_SHOWN: usize = 12;
/// Longest project name.
const MAX_NAME_LEN: usize = 200;
/// Largest open-waits cap a project may have.
pub const MAX_ACTIVE_WAITS: i64 = 10_000_000;
/// Longest retention a project may ask for: 10 years.
pub const MAX_RETENTION_SECS: u64 = 3650 * SECS_PER_DAY;

/// Why an admin operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A setting is out of range.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// No such project or key.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Settings of a new project; `None` takes the default.
#[derive(Debug, Clone, Default)]
pub struct NewProject {
    /// Human name.
    pub name: String,
    /// Largest accepted payload.
    pub payload_limit_bytes: Option<u32>,
    /// Sustained events per second.
    pub rate_limit_per_sec: Option<u32>,
    /// Burst.
    pub rate_limit_burst: Option<u32>,
    /// Retention in seconds.
    pub retention_secs: Option<u64>,
    /// Open-waits cap (none by default).
    pub max_active_waits: Option<u32>,
}

/// Changes to a project; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectChanges {
    /// New name.
    pub name: Option<String>,
    /// New payload limit.
    pub payload_limit_bytes: Option<u32>,
    /// New sustained rate.
    pub rate_limit_per_sec: Option<u32>,
    /// New burst.
    pub rate_limit_burst: Option<u32>,
    /// New retention in seconds.
    pub retention_secs: Option<u64>,
    /// New open-waits cap; `Some(None)` removes the cap.
    pub max_active_waits: Option<Option<u32>>,
}

/// A freshly issued key: the only time the key itself exists outside the client.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The key's id (safe to log and show).
    pub id: String,
    /// The key itself; shown once.
    pub key: String,
}

/// `bytes` random bytes as hex, for keys, tokens and ids.
pub(crate) fn random_hex(bytes: usize) -> Result<String, ProjectError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| ProjectError::Invalid {
        field: "randomness",
        reason: e.to_string(),
    })?;
    Ok(hex::encode(buf))
}

/// A new random admin token (`sra_…`); only its hash goes into the config.
pub fn new_admin_token() -> Result<String, ProjectError> {
    Ok(format!("sra_{}", random_hex(24)?))
}

fn new_key(project_id: &str, now: i64) -> Result<(IssuedKey, ApiKeyRow), ProjectError> {
    let key = format!("{API_KEY_PREFIX}{}", random_hex(24)?);
    let id = format!("key_{}", random_hex(8)?);
    let row = ApiKeyRow {
        id: id.clone(),
        project_id: project_id.to_owned(),
        key_hash: apikey::hash_api_key_hex(&key),
        prefix: key.chars().take(KEY_PREFIX_SHOWN).collect(),
        created_at: now,
        revoked_at: None,
    };
    Ok((IssuedKey { id, key }, row))
}

fn check_settings(row: &ProjectRow) -> Result<(), ProjectError> {
    let invalid = |field, reason: String| Err(ProjectError::Invalid { field, reason });
    if row.name.trim().is_empty() || row.name.len() > MAX_NAME_LEN {
        return invalid("name", format!("must be 1-{MAX_NAME_LEN} characters"));
    }
    if !(1..=i64::from(MAX_PAYLOAD_LIMIT_BYTES)).contains(&row.event_payload_limit_bytes) {
        return invalid(
            "payload limit",
            format!("must be between 1 and {MAX_PAYLOAD_LIMIT_BYTES} bytes"),
        );
    }
    if row.rate_limit_per_sec < 1 || row.rate_limit_burst < 1 {
        return invalid("rate limit", "rate and burst must be at least 1".into());
    }
    if row
        .max_active_waits
        .is_some_and(|cap| !(1..=MAX_ACTIVE_WAITS).contains(&cap))
    {
        return invalid(
            "open-waits cap",
            format!("must be between 1 and {MAX_ACTIVE_WAITS} (or none)"),
        );
    }
    if !(1..=MAX_RETENTION_SECS as i64).contains(&row.retention_secs) {
        return invalid(
            "retention",
            format!("must be between 1 s and {MAX_RETENTION_SECS} s"),
        );
    }
    Ok(())
}

/// Creates a project and its first API key.
pub async fn create(
    store: &Store,
    new: NewProject,
) -> Result<(ProjectRow, IssuedKey), ProjectError> {
    let now = Timestamp::now().unix_millis();
    let id = format!("{PROJECT_ID_PREFIX}{}", random_hex(10)?);
    debug_assert!(policy::is_valid_project_id(&id));
    let row = ProjectRow {
        id: id.clone(),
        name: new.name.trim().to_owned(),
        event_payload_limit_bytes: i64::from(
            new.payload_limit_bytes
                .unwrap_or(DEFAULT_PAYLOAD_LIMIT_BYTES),
        ),
        rate_limit_per_sec: i64::from(new.rate_limit_per_sec.unwrap_or(DEFAULT_RATE_LIMIT_PER_SEC)),
        rate_limit_burst: i64::from(new.rate_limit_burst.unwrap_or(DEFAULT_RATE_LIMIT_BURST)),
        retention_secs: new
            .retention_secs
            .unwrap_or(u64::from(DEFAULT_RETENTION_DAYS) * SECS_PER_DAY)
            as i64,
        max_active_waits: new.max_active_waits.map(i64::from),
        created_at: now,
        updated_at: now,
    };
    check_settings(&row)?;
    let (issued, key_row) = new_key(&id, now)?;
    store.insert_project(&row, &key_row).await?;
    Ok((row, issued))
}

async fn existing(store: &Store, id: &str) -> Result<ProjectRow, ProjectError> {
    store
        .project(id)
        .await?
        .ok_or_else(|| ProjectError::NotFound(format!("project {id}")))
}

/// Changes a project's settings, recording who changed what (`actor`) beside it.
pub async fn update(
    store: &Store,
    id: &str,
    changes: ProjectChanges,
    actor: &str,
) -> Result<ProjectRow, ProjectError> {
    let before = existing(store, id).await?;
    let mut row = before.clone();
    if let Some(name) = changes.name {
        row.name = name.trim().to_owned();
    }
    if let Some(v) = changes.payload_limit_bytes {
        row.event_payload_limit_bytes = i64::from(v);
    }
    if let Some(v) = changes.rate_limit_per_sec {
        row.rate_limit_per_sec = i64::from(v);
    }
    if let Some(v) = changes.rate_limit_burst {
        row.rate_limit_burst = i64::from(v);
    }
    if let Some(v) = changes.retention_secs {
        row.retention_secs = v.min(i64::MAX as u64) as i64;
    }
    if let Some(v) = changes.max_active_waits {
        row.max_active_waits = v.map(i64::from);
    }
    check_settings(&row)?;
    row.updated_at = Timestamp::now().unix_millis();
    let change = PolicyChangeRow {
        project_id: row.id.clone(),
        actor: actor.to_owned(),
        changed_at: row.updated_at,
        changes: changes_between(&before, &row).to_string(),
    };
    store.update_project(&row, &change).await?;
    Ok(row)
}

/// What differs between two versions of a project: `{"field": [old, new]}`.
pub fn changes_between(old: &ProjectRow, new: &ProjectRow) -> serde_json::Value {
    use serde_json::json;
    let mut out = serde_json::Map::new();
    let mut field = |name: &str, a: serde_json::Value, b: serde_json::Value| {
        if a != b {
            out.insert(name.to_owned(), json!([a, b]));
        }
    };
    field("name", json!(old.name), json!(new.name));
    field(
        "event_payload_limit_bytes",
        json!(old.event_payload_limit_bytes),
        json!(new.event_payload_limit_bytes),
    );
    field(
        "rate_limit_per_sec",
        json!(old.rate_limit_per_sec),
        json!(new.rate_limit_per_sec),
    );
    field(
        "rate_limit_burst",
        json!(old.rate_limit_burst),
        json!(new.rate_limit_burst),
    );
    field(
        "retention_secs",
        json!(old.retention_secs),
        json!(new.retention_secs),
    );
    field(
        "max_active_waits",
        json!(old.max_active_waits),
        json!(new.max_active_waits),
    );
    serde_json::Value::Object(out)
}

/// Issues a new key; unless `keep_existing`, every other key of the project is revoked.
pub async fn rotate_key(
    store: &Store,
    id: &str,
    keep_existing: bool,
) -> Result<(IssuedKey, u64), ProjectError> {
    existing(store, id).await?;
    let now = Timestamp::now().unix_millis();
    let (issued, row) = new_key(id, now)?;
    store.insert_key(&row).await?;
    let revoked = if keep_existing {
        0
    } else {
        store.revoke_keys(id, None, Some(&issued.id), now).await?
    };
    Ok((issued, revoked))
}

/// Revokes one key, named by its id (`key_…`) or by the key itself.
pub async fn revoke_key(store: &Store, id: &str, key: &str) -> Result<(), ProjectError> {
    existing(store, id).await?;
    let key_id = if apikey::looks_like_api_key(key) {
        let hash = apikey::hash_api_key_hex(key);
        store
            .keys(id)
            .await?
            .into_iter()
            .find(|k| k.key_hash == hash)
            .map(|k| k.id)
            .ok_or_else(|| ProjectError::NotFound("that key in this project".into()))?
    } else {
        key.to_owned()
    };
    let revoked = store
        .revoke_keys(id, Some(&key_id), None, Timestamp::now().unix_millis())
        .await?;
    if revoked == 0 {
        return Err(ProjectError::NotFound(format!(
            "active key {key_id} in project {id}"
        )));
    }
    Ok(())
}

/// The policy agents enforce for a project: its settings and active key hashes.
pub async fn policy_of(store: &Store, project: &ProjectRow) -> Result<ProjectPolicy, ProjectError> {
    let api_key_hashes = store
        .keys(&project.id)
        .await?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| k.key_hash)
        .collect();
    Ok(ProjectPolicy {
        project_id: project.id.clone(),
        name: project.name.clone(),
        event_payload_limit_bytes: u32::try_from(project.event_payload_limit_bytes)
            .unwrap_or(MAX_PAYLOAD_LIMIT_BYTES),
        rate_limit_per_sec: u32::try_from(project.rate_limit_per_sec).unwrap_or(u32::MAX),
        rate_limit_burst: u32::try_from(project.rate_limit_burst).unwrap_or(u32::MAX),
        retention_secs: u64::try_from(project.retention_secs).unwrap_or(1),
        api_key_hashes,
    })
}

/// Reads a project by id (for the CLI's `show`).
pub async fn get(store: &Store, id: &str) -> Result<ProjectRow, ProjectError> {
    existing(store, id).await
}
