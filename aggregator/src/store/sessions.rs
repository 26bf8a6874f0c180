//! Owner tokens, service tokens and browser sessions (only hashes of tokens and session
//! ids are stored).

use super::{OwnerTokenRow, ServiceTokenRow, SessionRow, Store, StoreError, on_pool};

impl Store {
    /// Adds an owner token to a project.
    pub async fn insert_owner_token(&self, token: &OwnerTokenRow) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO owner_tokens (id, project_id, token_hash, prefix, \
             created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&token.id)
                .bind(&token.project_id)
                .bind(&token.token_hash)
                .bind(&token.prefix)
                .bind(token.created_at)
                .bind(token.revoked_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A project's owner tokens, newest first, revoked ones included.
    pub async fn owner_tokens(&self, project_id: &str) -> Result<Vec<OwnerTokenRow>, StoreError> {
        const SQL: &str =
            "SELECT * FROM owner_tokens WHERE project_id = $1 ORDER BY created_at DESC, id";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(project_id)
            .fetch_all(pool)
            .await?))
    }

    /// The active owner token with this hash.
    pub async fn owner_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<OwnerTokenRow>, StoreError> {
        const SQL: &str = "SELECT * FROM owner_tokens WHERE token_hash = $1 AND revoked_at IS NULL";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(token_hash)
            .fetch_optional(pool)
            .await?))
    }

    /// Revokes one active owner token of a project and ends its sessions, in one
    /// transaction. Returns whether a token was revoked.
    pub async fn revoke_owner_token(
        &self,
        project_id: &str,
        token_id: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        const REVOKE: &str = "UPDATE owner_tokens SET revoked_at = $1 WHERE project_id = $2 \
             AND id = $3 AND revoked_at IS NULL";
        const END: &str = "DELETE FROM sessions WHERE actor = $1 AND project_id = $2";
        Ok(on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let revoked = sqlx::query(REVOKE)
                .bind(at)
                .bind(project_id)
                .bind(token_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if revoked > 0 {
                sqlx::query(END)
                    .bind(token_id)
                    .bind(project_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            revoked > 0
        }))
    }

    /// Opens a session.
    pub async fn insert_session(&self, session: &SessionRow) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO sessions (id_hash, kind, project_id, actor, csrf_token, \
             created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        on_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&session.id_hash)
                .bind(&session.kind)
                .bind(&session.project_id)
                .bind(&session.actor)
                .bind(&session.csrf_token)
                .bind(session.created_at)
                .bind(session.last_seen_at)
                .bind(session.expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The session with this id hash, expired or not.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        const SQL: &str = "SELECT * FROM sessions WHERE id_hash = $1";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(id_hash)
            .fetch_optional(pool)
            .await?))
    }

    /// Records activity on a session (for the idle timeout).
    pub async fn touch_session(&self, id_hash: &str, at: i64) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2";
        on_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(at)
                .bind(id_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM sessions WHERE id_hash = $1";
        on_pool!(self, |pool| {
            sqlx::query(SQL).bind(id_hash).execute(pool).await?;
        });
        Ok(())
    }

    /// Removes sessions past their absolute expiry or idle since before `idle_before`;
    /// returns how many.
    pub async fn purge_sessions(&self, now: i64, idle_before: i64) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2";
        Ok(on_pool!(self, |pool| sqlx::query(SQL)
            .bind(now)
            .bind(idle_before)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// Adds a service token.
    pub async fn insert_service_token(&self, token: &ServiceTokenRow) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO service_tokens (id, name, token_hash, prefix, \
             created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&token.id)
                .bind(&token.name)
                .bind(&token.token_hash)
                .bind(&token.prefix)
                .bind(token.created_at)
                .bind(token.revoked_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Every service token, newest first, revoked ones included.
    pub async fn service_tokens(&self) -> Result<Vec<ServiceTokenRow>, StoreError> {
        const SQL: &str = "SELECT * FROM service_tokens ORDER BY created_at DESC, id";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await?))
    }

    /// The active service token with this hash.
    pub async fn service_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ServiceTokenRow>, StoreError> {
        const SQL: &str =
            "SELECT * FROM service_tokens WHERE token_hash = $1 AND revoked_at IS NULL";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(token_hash)
            .fetch_optional(pool)
            .await?))
    }

    /// Revokes an active service token; whether one was.
    pub async fn revoke_service_token(&self, id: &str, at: i64) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE service_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        Ok(on_pool!(self, |pool| sqlx::query(SQL)
            .bind(at)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
            > 0))
    }
}
