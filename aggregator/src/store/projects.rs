//! Projects and their API keys (only key hashes are stored).

use super::{ApiKeyRow, PolicyChangeRow, ProjectRow, Store, StoreError, on_pool};

const INSERT_PROJECT: &str = "INSERT INTO projects (id, name, event_payload_limit_bytes, \
     rate_limit_per_sec, rate_limit_burst, retention_secs, max_active_waits, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const INSERT_KEY: &str = "INSERT INTO api_keys (id, project_id, key_hash, prefix, created_at, \
     revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Binds an [`ApiKeyRow`] to [`INSERT_KEY`].
macro_rules! bind_key {
    ($key:expr) => {
        sqlx::query(INSERT_KEY)
            .bind(&$key.id)
            .bind(&$key.project_id)
            .bind(&$key.key_hash)
            .bind(&$key.prefix)
            .bind($key.created_at)
            .bind($key.revoked_at)
    };
}

impl Store {
    /// Creates a project with its first key, atomically.
    pub async fn insert_project(
        &self,
        project: &ProjectRow,
        key: &ApiKeyRow,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(INSERT_PROJECT)
                .bind(&project.id)
                .bind(&project.name)
                .bind(project.event_payload_limit_bytes)
                .bind(project.rate_limit_per_sec)
                .bind(project.rate_limit_burst)
                .bind(project.retention_secs)
                .bind(project.max_active_waits)
                .bind(project.created_at)
                .bind(project.updated_at)
                .execute(&mut *tx)
                .await?;
            bind_key!(key).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// All projects, oldest first.
    pub async fn projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
        const SQL: &str = "SELECT * FROM projects ORDER BY created_at, id";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await?))
    }

    /// One project.
    pub async fn project(&self, id: &str) -> Result<Option<ProjectRow>, StoreError> {
        const SQL: &str = "SELECT * FROM projects WHERE id = $1";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Writes a project's settings and records the change, in one transaction; `NotFound`
    /// if the project does not exist.
    pub async fn update_project(
        &self,
        project: &ProjectRow,
        change: &PolicyChangeRow,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE projects SET name = $1, event_payload_limit_bytes = $2, \
             rate_limit_per_sec = $3, rate_limit_burst = $4, retention_secs = $5, \
             max_active_waits = $6, updated_at = $7 WHERE id = $8";
        const RECORD: &str = "INSERT INTO policy_changes (project_id, actor, changed_at, \
             changes) VALUES ($1, $2, $3, $4)";
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(SQL)
                .bind(&project.name)
                .bind(project.event_payload_limit_bytes)
                .bind(project.rate_limit_per_sec)
                .bind(project.rate_limit_burst)
                .bind(project.retention_secs)
                .bind(project.max_active_waits)
                .bind(project.updated_at)
                .bind(&project.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query(RECORD)
                .bind(&change.project_id)
                .bind(&change.actor)
                .bind(change.changed_at)
                .bind(&change.changes)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// A project's recorded policy changes, newest first.
    pub async fn policy_changes(
        &self,
        project_id: &str,
        limit: i64,
    ) -> Result<Vec<PolicyChangeRow>, StoreError> {
        const SQL: &str = "SELECT project_id, actor, changed_at, changes FROM policy_changes \
             WHERE project_id = $1 ORDER BY changed_at DESC, id DESC LIMIT $2";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(project_id)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Adds a key to a project.
    pub async fn insert_key(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            bind_key!(key).execute(pool).await?;
        });
        Ok(())
    }

    /// A project's keys, newest first, revoked ones included.
    pub async fn keys(&self, project_id: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        const SQL: &str =
            "SELECT * FROM api_keys WHERE project_id = $1 ORDER BY created_at DESC, id";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(project_id)
            .fetch_all(pool)
            .await?))
    }

    /// Revokes the project's active keys other than `keep` (all when `None`), or only
    /// `only` when given. Returns how many were revoked.
    pub async fn revoke_keys(
        &self,
        project_id: &str,
        only: Option<&str>,
        keep: Option<&str>,
        at: i64,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE api_keys SET revoked_at = $1 WHERE project_id = $2 \
             AND revoked_at IS NULL AND ($3 IS NULL OR id = $3) AND ($4 IS NULL OR id <> $4)";
        Ok(on_pool!(self, |pool| sqlx::query(SQL)
            .bind(at)
            .bind(project_id)
            .bind(only)
            .bind(keep)
            .execute(pool)
            .await?
            .rows_affected()))
    }

    /// The project an active API key (by hash) belongs to.
    pub async fn project_of_key(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        const SQL: &str =
            "SELECT project_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(SQL)
            .bind(key_hash)
            .fetch_optional(pool)
            .await?))
    }
}
