//! The event catalog as stored: the queue of events to fold in (filled by the write path,
//! `write/`), the folder's reads and optimistic writes, the lists, owner decisions on PII
//! flags, and retention of examples.

use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreError, on_pool};
use crate::catalog::Entry;
use crate::catalog::fold::{Key, State, Stored};

/// A catalog entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogRow {
    /// Project, event name and source.
    pub key: Key,
    /// First event received (ms).
    pub first_seen_at: i64,
    /// Latest event received (ms).
    pub last_seen_at: i64,
    /// Events folded in.
    pub count: i64,
    /// Whether an undismissed PII flag exists.
    pub pii_likely: bool,
    /// Drift records ever recorded.
    pub drift_count: i64,
    /// The latest drift record's time (ms).
    pub drift_last_at: Option<i64>,
    /// Schema, drift, examples and flags.
    pub entry: Entry,
}

/// Filters of the catalog lists; every one optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFilter {
    /// Only this project.
    pub project_id: Option<String>,
    /// Event names starting with this.
    pub event_prefix: Option<String>,
    /// `api` or `system`.
    pub source: Option<String>,
    /// Only entries likely (or not) to carry PII.
    pub pii: Option<bool>,
    /// Only entries with drift recorded at or after this time (ms).
    pub drift_since: Option<i64>,
    /// The page continues after this entry.
    pub after: Option<Key>,
    /// Page size.
    pub limit: i64,
}

const COLUMNS: &str = "project_id, event, source, first_seen_at, last_seen_at, count, \
     pii_likely, drift_count, drift_last_at, body";

/// One parameter of a list query.
enum Param<'a> {
    Text(&'a str),
    Int(i64),
    Bool(bool),
}

/// An entry's body as stored; a body that no longer parses starts the entry afresh rather
/// than stopping every pass that names it.
fn entry_of(key: &Key, body: &str) -> Entry {
    serde_json::from_str(body).unwrap_or_else(|error| {
        tracing::warn!(%error, project_id = %key.project_id, event = %key.event, "Catalog entry body unreadable; starting it afresh.");
        Entry::default()
    })
}

fn row_of<R: Row>(row: &R) -> Result<CatalogRow, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let key = Key {
        project_id: row.try_get(0)?,
        event: row.try_get(1)?,
        source: row.try_get(2)?,
    };
    let body: String = row.try_get(9)?;
    Ok(CatalogRow {
        entry: entry_of(&key, &body),
        first_seen_at: row.try_get(3)?,
        last_seen_at: row.try_get(4)?,
        count: row.try_get(5)?,
        pii_likely: row.try_get(6)?,
        drift_count: row.try_get(7)?,
        drift_last_at: row.try_get(8)?,
        key,
    })
}

impl Store {
    /// Catalog entries matching a filter, by project, event name and source. Entries
    /// created by a batch that had not committed yet are never seen (count 0 is hidden).
    pub async fn catalog(&self, filter: &CatalogFilter) -> Result<Vec<CatalogRow>, StoreError> {
        let mut conditions = vec!["count > 0".to_owned()];
        let mut params: Vec<Param<'_>> = Vec::new();
        if let Some(project_id) = &filter.project_id {
            params.push(Param::Text(project_id));
            conditions.push(format!("project_id = ${}", params.len()));
        }
        if let Some(prefix) = &filter.event_prefix {
            params.push(Param::Text(prefix));
            let n = params.len();
            conditions.push(format!("substr(event, 1, length(${n})) = ${n}"));
        }
        if let Some(source) = &filter.source {
            params.push(Param::Text(source));
            conditions.push(format!("source = ${}", params.len()));
        }
        if let Some(pii) = filter.pii {
            params.push(Param::Bool(pii));
            conditions.push(format!("pii_likely = ${}", params.len()));
        }
        if let Some(since) = filter.drift_since {
            params.push(Param::Int(since));
            conditions.push(format!("drift_last_at >= ${}", params.len()));
        }
        if let Some(after) = &filter.after {
            params.push(Param::Text(&after.project_id));
            params.push(Param::Text(&after.event));
            params.push(Param::Text(&after.source));
            let n = params.len();
            conditions.push(format!(
                "(project_id, event, source) > (${}, ${}, ${n})",
                n - 2,
                n - 1
            ));
        }
        params.push(Param::Int(filter.limit));
        let sql = format!(
            "SELECT {COLUMNS} FROM catalog_entries WHERE {} \
             ORDER BY project_id, event, source LIMIT ${}",
            conditions.join(" AND "),
            params.len()
        );
        Ok(on_pool!(self, |pool| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for param in &params {
                query = match param {
                    Param::Text(text) => query.bind(*text),
                    Param::Int(n) => query.bind(*n),
                    Param::Bool(b) => query.bind(*b),
                };
            }
            let rows = query.fetch_all(pool).await?;
            rows.iter().map(row_of).collect::<Result<Vec<_>, _>>()?
        }))
    }

    /// One catalog entry.
    pub async fn catalog_entry(&self, key: &Key) -> Result<Option<CatalogRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM catalog_entries \
             WHERE project_id = $1 AND event = $2 AND source = $3 AND count > 0"
        );
        Ok(on_pool!(self, |pool| {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&key.project_id)
                .bind(&key.event)
                .bind(&key.source)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(row_of).transpose()?
        }))
    }

    /// An owner's decision on the PII flags at `path`: the entry after it, `Err(NoSuchFlag)`
    /// when no flag is at that path, `None` when there is no such entry.
    pub async fn decide_flag(
        &self,
        key: &Key,
        path: &str,
        status: crate::catalog::FlagStatus,
        now: i64,
    ) -> Result<Option<Result<CatalogRow, crate::catalog::NoSuchFlag>>, StoreError> {
        let changed = self
            .catalog_change(key, now, |entry| {
                entry.decide(path, status).map(|()| true).map_err(|_| ())
            })
            .await?;
        Ok(changed.map(|result| result.map_err(|()| crate::catalog::NoSuchFlag)))
    }

    /// Changes one entry's body under its row lock: `change` returns whether it changed
    /// anything, or `Err(())` to leave it untouched. `None`: no such entry.
    pub async fn catalog_change(
        &self,
        key: &Key,
        now: i64,
        change: impl FnOnce(&mut Entry) -> Result<bool, ()> + Send,
    ) -> Result<Option<Result<CatalogRow, ()>>, StoreError> {
        let lock = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE",
        };
        let select = format!(
            "SELECT {COLUMNS} FROM catalog_entries \
             WHERE project_id = $1 AND event = $2 AND source = $3 AND count > 0{lock}"
        );
        const UPDATE: &str = "UPDATE catalog_entries SET pii_likely = $4, drift_count = $5, \
             drift_last_at = $6, body = $7, updated_at = $8, version = version + 1 \
             WHERE project_id = $1 AND event = $2 AND source = $3";
        Ok(on_pool!(self, |pool| {
            let mut tx = super::write::begin(pool).await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(select))
                .bind(&key.project_id)
                .bind(&key.event)
                .bind(&key.source)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(mut row) = row.as_ref().map(row_of).transpose()? else {
                return Ok(None);
            };
            match change(&mut row.entry) {
                Err(()) => Some(Err(())),
                Ok(false) => Some(Ok(row)),
                Ok(true) => {
                    let (drift_count, drift_last_at) = row.entry.drift_summary();
                    row.pii_likely = row.entry.pii_likely();
                    row.drift_count = i64::try_from(drift_count).unwrap_or(i64::MAX);
                    row.drift_last_at = drift_last_at;
                    let body = serde_json::to_string(&row.entry)
                        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                    sqlx::query(UPDATE)
                        .bind(&key.project_id)
                        .bind(&key.event)
                        .bind(&key.source)
                        .bind(row.pii_likely)
                        .bind(row.drift_count)
                        .bind(row.drift_last_at)
                        .bind(body)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Some(Ok(row))
                }
            }
        }))
    }

    /// The entries of a project (keys only), for the retention purge.
    pub async fn catalog_keys(&self, project_id: &str) -> Result<Vec<Key>, StoreError> {
        const SQL: &str = "SELECT event, source FROM catalog_entries WHERE project_id = $1";
        Ok(on_pool!(self, |pool| {
            let rows: Vec<(String, String)> =
                sqlx::query_as(SQL).bind(project_id).fetch_all(pool).await?;
            rows.into_iter()
                .map(|(event, source)| Key {
                    project_id: project_id.to_owned(),
                    event,
                    source,
                })
                .collect()
        }))
    }

    /// Batches waiting to be folded, oldest first: (queue row, event ids).
    pub async fn catalog_pending(&self, rows: i64) -> Result<Vec<(i64, Vec<Uuid>)>, StoreError> {
        self.queued(super::Queue::Catalog, rows).await
    }

    /// The stored events of these ids, in store order (those purged since are gone).
    pub async fn stored_for_catalog(&self, ids: &[Uuid]) -> Result<Vec<Stored>, StoreError> {
        const COLUMNS: &str = "seq, id, project_id, event, source, payload, received_at";
        type Row = (i64, Uuid, String, String, String, String, i64);
        let mut rows: Vec<Row> = self.events_by_id(COLUMNS, ids).await?;
        rows.sort_unstable_by_key(|row| row.0);
        Ok(rows
            .into_iter()
            .map(
                |(_, id, project_id, event, source, payload, received_at)| Stored {
                    id,
                    key: Key {
                        project_id,
                        event,
                        source,
                    },
                    payload,
                    received_at,
                },
            )
            .collect())
    }

    /// The entries named, as stored now (with their versions; not locked).
    pub async fn catalog_states(&self, keys: &[&Key]) -> Result<Vec<State>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS}, version FROM catalog_entries \
             WHERE project_id = $1 AND event = $2 AND source = $3"
        );
        let mut states = Vec::with_capacity(keys.len());
        for key in keys {
            let row = on_pool!(self, |pool| {
                let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(&key.project_id)
                    .bind(&key.event)
                    .bind(&key.source)
                    .fetch_optional(pool)
                    .await?;
                match row {
                    Some(row) => Some((row_of(&row)?, row.try_get::<i64, _>(10)?)),
                    None => None,
                }
            });
            if let Some((row, version)) = row {
                states.push(State {
                    key: row.key,
                    entry: row.entry,
                    version: Some(version),
                });
            }
        }
        Ok(states)
    }

    /// Writes folded entries and removes the queue rows they came from, in one
    /// transaction, provided nothing changed since they were read: an entry at another
    /// version, an entry created meanwhile or a queue row already taken leaves everything
    /// untouched and answers `false` (read again and fold again).
    pub async fn catalog_commit(
        &self,
        queue_ids: &[i64],
        states: &[State],
        now: i64,
    ) -> Result<bool, StoreError> {
        const TAKE: &str = "DELETE FROM catalog_queue WHERE id = $1";
        const INSERT: &str = "INSERT INTO catalog_entries (project_id, event, source, \
             first_seen_at, last_seen_at, count, pii_likely, drift_count, drift_last_at, body, \
             updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0) \
             ON CONFLICT DO NOTHING";
        const UPDATE: &str = "UPDATE catalog_entries SET first_seen_at = $4, last_seen_at = $5, \
             count = $6, pii_likely = $7, drift_count = $8, drift_last_at = $9, body = $10, \
             updated_at = $11, version = version + 1 \
             WHERE project_id = $1 AND event = $2 AND source = $3 AND version = $12";
        Ok(on_pool!(self, |pool| {
            let mut tx = super::write::begin(pool).await?;
            let mut current = true;
            for id in queue_ids {
                let taken = sqlx::query(TAKE).bind(id).execute(&mut *tx).await?;
                current &= taken.rows_affected() == 1;
            }
            for state in states {
                if !current {
                    break;
                }
                let (drift_count, drift_last_at) = state.entry.drift_summary();
                let (first_seen_at, last_seen_at) = state.entry.seen_range().unwrap_or((now, now));
                let count = i64::try_from(state.entry.events()).unwrap_or(i64::MAX);
                let body = serde_json::to_string(&state.entry)
                    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                let query = sqlx::query(match state.version {
                    None => INSERT,
                    Some(_) => UPDATE,
                })
                .bind(&state.key.project_id)
                .bind(&state.key.event)
                .bind(&state.key.source)
                .bind(first_seen_at)
                .bind(last_seen_at)
                .bind(count)
                .bind(state.entry.pii_likely())
                .bind(i64::try_from(drift_count).unwrap_or(i64::MAX))
                .bind(drift_last_at)
                .bind(body)
                .bind(now);
                let query = match state.version {
                    None => query,
                    Some(version) => query.bind(version),
                };
                current &= query.execute(&mut *tx).await?.rows_affected() == 1;
            }
            if current {
                tx.commit().await?;
            }
            current
        }))
    }
}
