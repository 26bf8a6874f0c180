//! Owner tokens and the browser sessions of the dashboard (owners) and the backoffice
//! (staff).
//!
//! An owner signs in with an owner token (`sro_…`, issued by `project owner-token`, shown
//! once, stored hashed); staff sign in with the admin token. A session is a random 256-bit
//! id in an HttpOnly cookie; only its SHA-256 is stored, so a database read does not yield
//! live cookies. Each session has a CSRF token every form carries, an idle timeout and an
//! absolute one, both enforced here on the server. The sign-in form itself is protected by a
//! short `sign_in` session that holds its CSRF token before any credential is known; signing
//! in replaces it with a new id.

use sendrealm_common::apikey;

use crate::projects::ProjectError;
use crate::store::{OwnerTokenRow, SessionRow, Store, StoreError};

/// Prefix of owner tokens.
pub const OWNER_TOKEN_PREFIX: &str = "sro_";
/// A session unused for this long ends (ms).
pub const IDLE_MS: i64 = 30 * 60_000;
/// A session ends this long after sign-in whatever its use (ms).
pub const ABSOLUTE_MS: i64 = 12 * 3_600_000;
/// How long a sign-in form stays valid (ms).
pub const SIGN_IN_MS: i64 = 15 * 60_000;
/// Activity is written back at most this often (ms): a page view is then a read only.
const TOUCH_EVERY_MS: i64 = 60_000;
/// Characters of a token shown to tell tokens apart.
const PREFIX_SHOWN: usize = 12;
/// Actor of staff sessions opened with the configured admin token.
pub const ADMIN_ACTOR: &str = "admin";

/// What a session may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A sign-in form: nothing but signing in.
    SignIn,
    /// An owner of one project.
    Owner(String),
    /// Staff: every project, the backoffice.
    Staff,
}

impl Role {
    fn kind(&self) -> &'static str {
        match self {
            Role::SignIn => "sign_in",
            Role::Owner(_) => "owner",
            Role::Staff => "staff",
        }
    }

    fn of(row: &SessionRow) -> Option<Role> {
        match (row.kind.as_str(), &row.project_id) {
            ("sign_in", None) => Some(Role::SignIn),
            ("owner", Some(project)) => Some(Role::Owner(project.clone())),
            ("staff", None) => Some(Role::Staff),
            _ => None,
        }
    }
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// What it may do.
    pub role: Role,
    /// The token behind it (`otk_…` or `admin`).
    pub actor: String,
    /// The CSRF token its forms carry.
    pub csrf_token: String,
    id_hash: String,
}

impl Session {
    /// Whether `given` is this session's CSRF token (compared without an early exit).
    pub fn csrf_matches(&self, given: &str) -> bool {
        let (a, b) = (self.csrf_token.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A session just opened: the cookie value exists only here and in the browser.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The cookie's value.
    pub cookie: String,
    /// The session.
    pub session: Session,
    /// Seconds until its absolute expiry (the cookie's Max-Age).
    pub max_age_secs: i64,
}

/// Why signing in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The form is unknown, expired or carries the wrong CSRF token.
    #[error("the sign-in form expired; load it again")]
    StaleForm,
    /// The token opens nothing.
    #[error("that token is not valid")]
    BadToken,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness.
    #[error("no randomness: {0}")]
    Random(String),
}

/// Whether a stored session is still live at `now`, and whether its activity should be
/// written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Past its absolute expiry or idle too long.
    Expired,
    /// Live; its last activity is recent enough.
    Live,
    /// Live; record this request as its latest activity.
    LiveTouch,
}

/// Decides a session's liveness at `now` (pure).
pub fn liveness(row: &SessionRow, now: i64) -> Liveness {
    if now >= row.expires_at || now - row.last_seen_at >= IDLE_MS {
        Liveness::Expired
    } else if now - row.last_seen_at >= TOUCH_EVERY_MS {
        Liveness::LiveTouch
    } else {
        Liveness::Live
    }
}

fn random_hex(bytes: usize) -> Result<String, String> {
    crate::projects::random_hex(bytes).map_err(|e| e.to_string())
}

/// Opens a session for `role` at `now`.
pub async fn open(store: &Store, role: Role, actor: &str, now: i64) -> Result<Opened, SignInError> {
    let cookie = random_hex(32).map_err(SignInError::Random)?;
    let csrf_token = random_hex(32).map_err(SignInError::Random)?;
    let lifetime = if role == Role::SignIn {
        SIGN_IN_MS
    } else {
        ABSOLUTE_MS
    };
    let row = SessionRow {
        id_hash: apikey::hash_api_key_hex(&cookie),
        kind: role.kind().to_owned(),
        project_id: match &role {
            Role::Owner(project) => Some(project.clone()),
            _ => None,
        },
        actor: actor.to_owned(),
        csrf_token: csrf_token.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + lifetime,
    };
    store.insert_session(&row).await?;
    Ok(Opened {
        cookie,
        max_age_secs: lifetime / 1000,
        session: Session {
            role,
            actor: actor.to_owned(),
            csrf_token,
            id_hash: row.id_hash,
        },
    })
}

/// The live session a cookie names, if any; an expired one is removed.
pub async fn find(store: &Store, cookie: &str, now: i64) -> Result<Option<Session>, StoreError> {
    let id_hash = apikey::hash_api_key_hex(cookie);
    let Some(row) = store.session(&id_hash).await? else {
        return Ok(None);
    };
    match liveness(&row, now) {
        Liveness::Expired => {
            store.delete_session(&id_hash).await?;
            return Ok(None);
        }
        Liveness::LiveTouch => store.touch_session(&id_hash, now).await?,
        Liveness::Live => {}
    }
    Ok(Role::of(&row).map(|role| Session {
        role,
        actor: row.actor,
        csrf_token: row.csrf_token,
        id_hash,
    }))
}

/// Ends a session (sign-out).
pub async fn close(store: &Store, session: &Session) -> Result<(), StoreError> {
    store.delete_session(&session.id_hash).await
}

/// Signs in from a sign-in form: checks the form's session and CSRF token, resolves
/// `token` (an owner token, or the admin token when `admin_token_sha256` is given and
/// `staff`), ends the form's session and opens a new one.
pub async fn sign_in(
    store: &Store,
    form: Option<&Session>,
    csrf: &str,
    token: &str,
    staff: Option<&[u8; 32]>,
    now: i64,
) -> Result<Opened, SignInError> {
    let form = form
        .filter(|s| s.role == Role::SignIn && s.csrf_matches(csrf))
        .ok_or(SignInError::StaleForm)?;
    let token = token.trim();
    let (role, actor) = match staff {
        Some(admin) if apikey::matches_hash(token, admin) => (Role::Staff, ADMIN_ACTOR.to_owned()),
        Some(_) => return Err(SignInError::BadToken),
        None => {
            let found = if token.starts_with(OWNER_TOKEN_PREFIX) {
                store
                    .owner_token_by_hash(&apikey::hash_api_key_hex(token))
                    .await?
            } else {
                None
            };
            let found = found.ok_or(SignInError::BadToken)?;
            (Role::Owner(found.project_id), found.id)
        }
    };
    close(store, form).await?;
    open(store, role, &actor, now).await
}

/// A freshly issued owner token: the only time the token itself exists here.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// Its id (safe to show and log).
    pub id: String,
    /// The token; shown once.
    pub token: String,
}

/// Issues an owner token for a project.
pub async fn issue_owner_token(
    store: &Store,
    project_id: &str,
    now: i64,
) -> Result<IssuedToken, ProjectError> {
    let random = crate::projects::random_hex;
    store
        .project(project_id)
        .await?
        .ok_or_else(|| ProjectError::NotFound(format!("project {project_id}")))?;
    let token = format!("{OWNER_TOKEN_PREFIX}{}", random(24)?);
    let id = format!("otk_{}", random(8)?);
    store
        .insert_owner_token(&OwnerTokenRow {
            id: id.clone(),
            project_id: project_id.to_owned(),
            token_hash: apikey::hash_api_key_hex(&token),
            prefix: token.chars().take(PREFIX_SHOWN).collect(),
            created_at: now,
            revoked_at: None,
        })
        .await?;
    Ok(IssuedToken { id, token })
}

/// Revokes an owner token, named by its id (`otk_…`) or by the token itself, and ends
/// its sessions at once.
pub async fn revoke_owner_token(
    store: &Store,
    project_id: &str,
    token: &str,
    now: i64,
) -> Result<(), ProjectError> {
    let id = if token.starts_with(OWNER_TOKEN_PREFIX) {
        let hash = apikey::hash_api_key_hex(token);
        store
            .owner_tokens(project_id)
            .await?
            .into_iter()
            .find(|t| t.token_hash == hash)
            .map(|t| t.id)
            .ok_or_else(|| ProjectError::NotFound("that token in this project".into()))?
    } else {
        token.to_owned()
    };
    if store.revoke_owner_token(project_id, &id, now).await? {
        Ok(())
    } else {
        Err(ProjectError::NotFound(format!(
            "active owner token {id} in project {project_id}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(last_seen_at: i64, expires_at: i64) -> SessionRow {
        SessionRow {
            id_hash: "h".into(),
            kind: "owner".into(),
            project_id: Some("proj_a".into()),
            actor: "otk_1".into(),
            csrf_token: "c".into(),
            created_at: 0,
            last_seen_at,
            expires_at,
        }
    }

    #[test]
    fn sessions_expire_when_idle_or_past_their_lifetime() {
        let r = row(1_000, ABSOLUTE_MS);
        assert_eq!(liveness(&r, 1_000), Liveness::Live);
        assert_eq!(liveness(&r, 1_000 + TOUCH_EVERY_MS), Liveness::LiveTouch);
        assert_eq!(liveness(&r, 1_000 + IDLE_MS), Liveness::Expired);
        let r = row(ABSOLUTE_MS - 10, ABSOLUTE_MS);
        assert_eq!(liveness(&r, ABSOLUTE_MS), Liveness::Expired);
    }

    #[test]
    fn roles_come_only_from_consistent_rows() {
        assert_eq!(Role::of(&row(0, 1)), Some(Role::Owner("proj_a".to_owned())));
        let mut r = row(0, 1);
        r.project_id = None;
        assert_eq!(Role::of(&r), None);
        r.kind = "staff".into();
        assert_eq!(Role::of(&r), Some(Role::Staff));
        r.kind = "other".into();
        assert_eq!(Role::of(&r), None);
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        let s = Session {
            role: Role::SignIn,
            actor: String::new(),
            csrf_token: "abcd".into(),
            id_hash: String::new(),
        };
        assert!(s.csrf_matches("abcd"));
        assert!(!s.csrf_matches("abc"));
        assert!(!s.csrf_matches("abce"));
        assert!(!s.csrf_matches(""));
    }
}
