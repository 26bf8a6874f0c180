//! Who is asking: a project (its API key, or its owner's dashboard session) or an operator
//! (the admin token, or a backoffice session).

use sendrealm_common::apikey;
use sendrealm_common::error_code::ErrorCode;

use super::reply::ApiError;
use super::session::{Credentials, check_form};
use crate::sessions::Role;
use crate::store::Store;

/// What a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One project's data.
    Project(String),
    /// Every project's data.
    Admin,
}

impl Scope {
    /// Whether this caller may read a project's data.
    pub fn allows(&self, project_id: &str) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Project(id) => id == project_id,
        }
    }
}

impl super::State {
    /// Who is asking: the `Authorization` header resolved against this service's keys and
    /// admin token; without one, the session cookie (a state change made with a session
    /// must carry its CSRF token in `X-CSRF-Token`).
    pub async fn scope(&self, credentials: &Credentials) -> Result<Scope, ApiError> {
        if credentials.authorization.is_none() && credentials.cookie.is_some() {
            let session = self.session(credentials).await?;
            return match session.as_ref().map(|s| &s.role) {
                Some(Role::Owner(project)) => Ok(Scope::Project(project.clone())),
                Some(Role::Staff) => Ok(Scope::Admin),
                Some(Role::SignIn) | None => Err(ApiError::new(
                    ErrorCode::InvalidApiKey,
                    "the session has ended; sign in again",
                )),
            };
        }
        authorize(
            &self.store,
            self.admin_token_sha256.as_ref(),
            credentials.authorization.as_deref(),
        )
        .await
    }

    /// [`Self::scope`] for a request that changes something: a session must also prove
    /// its CSRF token.
    pub async fn scope_to_change(&self, credentials: &Credentials) -> Result<Scope, ApiError> {
        if credentials.authorization.is_none()
            && let Some(session) = self.session(credentials).await?
        {
            check_form(credentials, &session, credentials.csrf_header.as_deref())?;
        }
        self.scope(credentials).await
    }
}

/// Resolves the `Authorization: Bearer …` header to a scope.
pub async fn authorize(
    store: &Store,
    admin_token_sha256: Option<&[u8; 32]>,
    authorization: Option<&str>,
) -> Result<Scope, ApiError> {
    let token = authorization
        .and_then(credential)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingApiKey,
                "send `Authorization: Bearer <API key or admin token>`",
            )
        })?;
    let hash = apikey::hash_api_key(&token);
    if admin_token_sha256.is_some_and(|admin| constant_time_eq(admin, &hash)) {
        return Ok(Scope::Admin);
    }
    match store.project_of_key(&hex::encode(hash)).await? {
        Some(project_id) => Ok(Scope::Project(project_id)),
        None => Err(ApiError::new(ErrorCode::InvalidApiKey, "invalid API key")),
    }
}

/// The token of `Bearer <token>`, or the password of `Basic base64(user:token)` (how a
/// browser sends it for the backoffice page).
fn credential(header: &str) -> Option<String> {
    use base64::Engine as _;
    if let Some(token) = apikey::bearer_token(header) {
        return Some(token.to_owned());
    }
    let (scheme, value) = header.trim().split_once(' ')?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.split_once(':')
            .map(|(_, password)| password.to_owned())
    } else {
        None
    }
}

/// Compares two hashes without an early exit, so timing says nothing about the token.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
