//! Bearer authentication against the policy snapshot.

use std::sync::Arc;

use sendrealm_common::apikey::bearer_token;

use crate::policy::{Policies, Project};

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("missing API key: send `Authorization: Bearer <API key>`")]
    Missing,
    /// The key is not an active key of any project.
    #[error("invalid API key")]
    Invalid,
    /// Policies have not been loaded yet, so no key can be judged.
    #[error("policies are not loaded yet")]
    NotReady,
}

/// Resolves the `Authorization` header value to its project.
pub fn authenticate(
    policies: &Policies,
    authorization: Option<&str>,
) -> Result<Arc<Project>, AuthError> {
    let key = authorization
        .and_then(bearer_token)
        .ok_or(AuthError::Missing)?;
    if !policies.is_loaded() {
        return Err(AuthError::NotReady);
    }
    policies.project_for_key(key).ok_or(AuthError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unloaded_policies_are_not_ready_rather_than_unauthorized() {
        let policies = Policies::default();
        assert_eq!(
            authenticate(&policies, Some("Bearer sk_x")).unwrap_err(),
            AuthError::NotReady
        );
        assert_eq!(
            authenticate(&policies, None).unwrap_err(),
            AuthError::Missing
        );
    }
}
