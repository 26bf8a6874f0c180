//! Reading stored events and contacts, and the retention purge.

use uuid::Uuid;

use super::{ContactRow, EventFilter, EventRow, IdentifierRow, Store, StoreError, on_pool};

/// A parameter of a query assembled from optional filters.
enum Param<'a> {
    Text(&'a str),
    Id(Uuid),
    Int(i64),
}

impl Store {
    /// Events matching a filter, newest first.
    ///
    /// The statement names only the filters given, so each shape can use its index
    /// (`(contact_id, seq)`, `(project_id, seq)`); `($n IS NULL OR …)` would hide them
    /// from the planner.
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<EventRow>, StoreError> {
        let mut filters: Vec<(&str, Param<'_>)> = Vec::new();
        if let Some(project_id) = &filter.project_id {
            filters.push(("project_id", Param::Text(project_id)));
        }
        if let Some(contact_id) = filter.contact_id {
            filters.push(("contact_id", Param::Id(contact_id)));
        }
        if let Some(event) = &filter.event {
            filters.push(("event", Param::Text(event)));
        }
        let mut conditions: Vec<String> = filters
            .iter()
            .enumerate()
            .map(|(i, (column, _))| format!("{column} = ${}", i + 1))
            .collect();
        let mut params: Vec<Param<'_>> = filters.into_iter().map(|(_, p)| p).collect();
        if let Some(before) = filter.before_seq {
            params.push(Param::Int(before));
            conditions.push(format!("seq < ${}", params.len()));
        }
        let mut sql = String::from("SELECT * FROM events");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", params.len() + 1));
        Ok(on_pool!(self, |pool| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for param in &params {
                query = match param {
                    Param::Text(text) => query.bind(*text),
                    Param::Id(id) => query.bind(*id),
                    Param::Int(n) => query.bind(*n),
                };
            }
            query.bind(filter.limit).fetch_all(pool).await?
        }))
    }

    /// One event by id.
    pub async fn event(&self, id: Uuid) -> Result<Option<EventRow>, StoreError> {
        const SQL: &str = "SELECT * FROM events WHERE id = $1";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// One contact by id.
    pub async fn contact(&self, id: Uuid) -> Result<Option<ContactRow>, StoreError> {
        const SQL: &str = "SELECT * FROM contacts WHERE id = $1";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// A contact's identifiers, oldest link first.
    pub async fn identifiers(&self, contact_id: Uuid) -> Result<Vec<IdentifierRow>, StoreError> {
        const SQL: &str = "SELECT kind, value, created_at FROM contact_identifiers \
             WHERE contact_id = $1 ORDER BY created_at, kind, value";
        Ok(on_pool!(self, |pool| sqlx::query_as(SQL)
            .bind(contact_id)
            .fetch_all(pool)
            .await?))
    }

    /// The contact an identifier names in a project.
    pub async fn contact_for(
        &self,
        project_id: &str,
        kind: &str,
        value: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        const SQL: &str = "SELECT contact_id FROM contact_identifiers \
             WHERE project_id = $1 AND kind = $2 AND value = $3";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(SQL)
            .bind(project_id)
            .bind(kind)
            .bind(value)
            .fetch_optional(pool)
            .await?))
    }

    /// Deletes up to `limit` of a project's events received before `before` (ms).
    pub async fn purge_events(
        &self,
        project_id: &str,
        before: i64,
        limit: i64,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM events WHERE seq IN (SELECT seq FROM events \
             WHERE project_id = $1 AND received_at < $2 LIMIT $3)";
        Ok(on_pool!(self, |pool| sqlx::query(SQL)
            .bind(project_id)
            .bind(before)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected()))
    }
}
