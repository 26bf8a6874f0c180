//! Service tokens: the credential of platform services (mail, push, audiences, the
//! automation engine) on the internal paths. A project key, an owner token or the admin
//! token is never one. Shown once, stored hashed, revocable.

use sendrealm_common::apikey;

use crate::projects::{ProjectError, random_hex};
use crate::store::{ServiceTokenRow, Store, StoreError};

/// Prefix of service tokens.
pub const SERVICE_TOKEN_PREFIX: &str = "srs_";
/// Characters of a token shown to tell tokens apart.
const PREFIX_SHOWN: usize = 12;
/// Longest service name.
const MAX_NAME_LEN: usize = 100;

/// A freshly issued service token: the only time the token itself exists here.
#[derive(Debug, Clone)]
pub struct IssuedServiceToken {
    /// Its id (safe to show and log).
    pub id: String,
    /// The token; shown once.
    pub token: String,
}

/// Issues a token for the service `name`.
pub async fn issue(
    store: &Store,
    name: &str,
    now: i64,
) -> Result<IssuedServiceToken, ProjectError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ProjectError::Invalid {
            field: "name",
            reason: format!("must be 1-{MAX_NAME_LEN} characters"),
        });
    }
    let token = format!("{SERVICE_TOKEN_PREFIX}{}", random_hex(24)?);
    let id = format!("stk_{}", random_hex(8)?);
    store
        .insert_service_token(&ServiceTokenRow {
            id: id.clone(),
            name: name.to_owned(),
            token_hash: apikey::hash_api_key_hex(&token),
            prefix: token.chars().take(PREFIX_SHOWN).collect(),
            created_at: now,
            revoked_at: None,
        })
        .await?;
    Ok(IssuedServiceToken { id, token })
}

/// Revokes a token by its id (`stk_…`) or the token itself.
pub async fn revoke(store: &Store, token: &str, now: i64) -> Result<(), ProjectError> {
    let id = if token.starts_with(SERVICE_TOKEN_PREFIX) {
        store
            .service_token_by_hash(&apikey::hash_api_key_hex(token))
            .await?
            .map(|t| t.id)
            .ok_or_else(|| ProjectError::NotFound("that active service token".into()))?
    } else {
        token.to_owned()
    };
    if store.revoke_service_token(&id, now).await? {
        Ok(())
    } else {
        Err(ProjectError::NotFound(format!("active service token {id}")))
    }
}

/// The active service token a bearer token is, if it is one.
pub async fn find(store: &Store, token: &str) -> Result<Option<ServiceTokenRow>, StoreError> {
    if !token.starts_with(SERVICE_TOKEN_PREFIX) {
        return Ok(None);
    }
    store
        .service_token_by_hash(&apikey::hash_api_key_hex(token))
        .await
}
