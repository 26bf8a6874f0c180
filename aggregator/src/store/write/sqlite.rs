//! The write path on SQLite: multi-row `VALUES` statements, up to
//! [`ROWS_PER_STATEMENT`] rows each.

use std::collections::HashSet;

use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{AssertSqlSafe, Row, Sqlite};
use uuid::Uuid;

use super::{
    Bulk, ENQUEUE, ENQUEUE_WAITS, Found, Lookups, ROWS_PER_STATEMENT, Writes,
    anonymous_placeholders, kind_of, queued_ids,
};

impl Bulk for Sqlite {
    async fn begin(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        crate::store::sqlite::begin_write(pool).await
    }

    async fn find(
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        lookups: &Lookups,
    ) -> Result<Found, sqlx::Error> {
        let conn: &mut SqliteConnection = tx;
        let mut found = Found::default();
        for chunk in lookups.contact_ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id, project_id FROM contacts WHERE id IN {}",
                anonymous_placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *conn).await? {
                found.contacts.insert(row.try_get(0)?, row.try_get(1)?);
            }
        }
        for chunk in lookups.identifiers.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT project_id, kind, value, contact_id FROM contact_identifiers \
                 WHERE (project_id, kind, value) IN (VALUES {})",
                anonymous_placeholders(chunk.len(), 3)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for (project, kind, value) in chunk {
                query = query.bind(project).bind(*kind).bind(value);
            }
            for row in query.fetch_all(&mut *conn).await? {
                let kind: String = row.try_get(1)?;
                found.owners.insert(
                    (row.try_get(0)?, kind_of(&kind), row.try_get(2)?),
                    row.try_get(3)?,
                );
            }
        }
        Ok(found)
    }

    async fn write(
        tx: &mut sqlx::Transaction<'static, Sqlite>,
        writes: &Writes<'_>,
        now: i64,
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        let conn: &mut SqliteConnection = tx;
        for chunk in writes.contacts.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO contacts (id, project_id, created_at) VALUES {}",
                anonymous_placeholders(chunk.len(), 3)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for c in chunk {
                query = query.bind(c.id).bind(&c.project_id).bind(now);
            }
            query.execute(&mut *conn).await?;
        }
        for chunk in writes.identifiers.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO contact_identifiers (project_id, kind, value, contact_id, created_at) \
                 VALUES {}",
                anonymous_placeholders(chunk.len(), 5)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for i in chunk {
                let (project, kind, value) = &i.key;
                query = query
                    .bind(project)
                    .bind(*kind)
                    .bind(value)
                    .bind(i.contact_id)
                    .bind(now);
            }
            query.execute(&mut *conn).await?;
        }
        for chunk in writes.outbox.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO outbox (id, project_id, subject, msg_id, payload, created_at) \
                 VALUES {} ON CONFLICT DO NOTHING",
                anonymous_placeholders(chunk.len(), 6)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for o in chunk {
                query = query
                    .bind(&o.id)
                    .bind(&o.project_id)
                    .bind(&o.subject)
                    .bind(&o.msg_id)
                    .bind(&o.payload)
                    .bind(o.created_at);
            }
            query.execute(&mut *conn).await?;
        }
        let mut inserted = HashSet::with_capacity(writes.events.len());
        for chunk in writes.events.chunks(ROWS_PER_STATEMENT) {
            // `OR IGNORE` rather than `ON CONFLICT DO NOTHING`: with no constraint left that
            // can abort the statement (events have no foreign keys, and every NOT NULL
            // column is bound from a value that cannot be null), SQLite keeps no statement
            // journal, whose copy of every page the insert touches was a tenth of the drain's
            // CPU. The only conflict left is the event id's: a duplicate, as before.
            let sql = format!(
                "INSERT OR IGNORE INTO events (id, project_id, event, contact_id, sent_contact_id, \
                 external_id, email, payload, occurred_at, received_at, stored_at, \
                 idempotency_key, source, region) VALUES {} RETURNING id",
                anonymous_placeholders(chunk.len(), 14)
            );
            let mut query = sqlx::query_scalar::<_, Uuid>(AssertSqlSafe(sql));
            for new in chunk {
                let e = new.event;
                query = query
                    .bind(new.id)
                    .bind(&e.project_id)
                    .bind(&e.event)
                    .bind(new.contact_id)
                    .bind(new.sent_contact_id)
                    .bind(e.external_id.as_deref())
                    .bind(e.email.as_deref())
                    .bind(e.payload.get())
                    .bind(e.occurred_at.unix_millis())
                    .bind(e.received_at.unix_millis())
                    .bind(now)
                    .bind(e.idempotency_key.as_deref())
                    .bind(e.source.as_str())
                    .bind(&e.region);
            }
            inserted.extend(query.fetch_all(&mut *conn).await?);
        }
        // Conflicts only for events stored now: one a concurrent writer stored first has its
        // conflicts recorded there.
        let conflicts: Vec<_> = writes
            .conflicts
            .iter()
            .filter(|c| inserted.contains(&c.event_id))
            .collect();
        for chunk in conflicts.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO identity_conflicts (project_id, event_id, kind, value, \
                 identifier_contact, resolved_contact, created_at) VALUES {}",
                anonymous_placeholders(chunk.len(), 7)
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for c in chunk {
                let (project, kind, value) = &c.key;
                query = query
                    .bind(project)
                    .bind(c.event_id)
                    .bind(*kind)
                    .bind(value)
                    .bind(c.identifier_contact)
                    .bind(c.resolved_contact)
                    .bind(now);
            }
            query.execute(&mut *conn).await?;
        }
        if !inserted.is_empty() {
            let ids = queued_ids(&inserted);
            if writes.catalog {
                sqlx::query(ENQUEUE)
                    .bind(&ids)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
            }
            sqlx::query(ENQUEUE_WAITS)
                .bind(ids)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
        Ok(inserted)
    }
}
