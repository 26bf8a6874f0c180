//! The write path on PostgreSQL: one statement per table, over arrays (`UNNEST`), so a
//! batch costs the same few round trips whatever its size.

use std::collections::HashSet;

use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Postgres, Row};
use uuid::Uuid;

use super::{Bulk, ENQUEUE, ENQUEUE_WAITS, Found, Lookups, Writes, kind_of, queued_ids};

/// Column-wise copy of a list: one array per column, as `UNNEST` takes them.
fn column<T, U>(rows: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

impl Bulk for Postgres {
    async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        crate::store::postgres::begin_write(pool).await
    }

    async fn find(
        tx: &mut sqlx::Transaction<'static, Postgres>,
        lookups: &Lookups,
    ) -> Result<Found, sqlx::Error> {
        let conn: &mut PgConnection = tx;
        let mut found = Found::default();
        if !lookups.contact_ids.is_empty() {
            let rows = sqlx::query("SELECT id, project_id FROM contacts WHERE id = ANY($1)")
                .bind(&lookups.contact_ids)
                .fetch_all(&mut *conn)
                .await?;
            for row in rows {
                found.contacts.insert(row.try_get(0)?, row.try_get(1)?);
            }
        }
        if !lookups.identifiers.is_empty() {
            let keys = &lookups.identifiers;
            let rows = sqlx::query(
                "SELECT c.project_id, c.kind, c.value, c.contact_id FROM contact_identifiers c \
                 JOIN UNNEST($1::text[], $2::text[], $3::text[]) AS k(project_id, kind, value) \
                 ON c.project_id = k.project_id AND c.kind = k.kind AND c.value = k.value",
            )
            .bind(column(keys, |k| k.0.clone()))
            .bind(column(keys, |k| k.1))
            .bind(column(keys, |k| k.2.clone()))
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
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
        tx: &mut sqlx::Transaction<'static, Postgres>,
        writes: &Writes<'_>,
        now: i64,
    ) -> Result<HashSet<Uuid>, sqlx::Error> {
        let conn: &mut PgConnection = tx;
        let contacts = &writes.contacts;
        if !contacts.is_empty() {
            sqlx::query(
                "INSERT INTO contacts (id, project_id, created_at) \
                 SELECT id, project_id, $3 FROM UNNEST($1::uuid[], $2::text[]) AS t(id, project_id)",
            )
            .bind(column(contacts, |c| c.id))
            .bind(column(contacts, |c| c.project_id.clone()))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        let identifiers = &writes.identifiers;
        if !identifiers.is_empty() {
            // In the planner's (sorted) order, so concurrent writers lock in one order.
            sqlx::query(
                "INSERT INTO contact_identifiers (project_id, kind, value, contact_id, created_at) \
                 SELECT p, k, v, c, $5 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::uuid[]) \
                 WITH ORDINALITY AS t(p, k, v, c, n) ORDER BY n",
            )
            .bind(column(identifiers, |i| i.key.0.clone()))
            .bind(column(identifiers, |i| i.key.1))
            .bind(column(identifiers, |i| i.key.2.clone()))
            .bind(column(identifiers, |i| i.contact_id))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        let outbox = &writes.outbox;
        if !outbox.is_empty() {
            sqlx::query(
                "INSERT INTO outbox (id, project_id, subject, msg_id, payload, created_at) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::int8[]) ON CONFLICT DO NOTHING",
            )
            .bind(column(outbox, |o| o.id.clone()))
            .bind(column(outbox, |o| o.project_id.clone()))
            .bind(column(outbox, |o| o.subject.clone()))
            .bind(column(outbox, |o| o.msg_id.clone()))
            .bind(column(outbox, |o| o.payload.clone()))
            .bind(column(outbox, |o| o.created_at))
            .execute(&mut *conn)
            .await?;
        }
        let events = &writes.events;
        let mut inserted = HashSet::with_capacity(events.len());
        if !events.is_empty() {
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "INSERT INTO events (id, project_id, event, contact_id, sent_contact_id, \
                 external_id, email, payload, occurred_at, received_at, stored_at, \
                 idempotency_key, source, region) \
                 SELECT id, p, e, c, s, x, m, b, o, r, $11, k, src, reg FROM UNNEST($1::uuid[], \
                 $2::text[], $3::text[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], \
                 $8::text[], $9::int8[], $10::int8[], $12::text[], $13::text[], $14::text[]) \
                 AS t(id, p, e, c, s, x, m, b, o, r, k, src, reg) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(column(events, |n| n.id))
            .bind(column(events, |n| n.event.project_id.clone()))
            .bind(column(events, |n| n.event.event.clone()))
            .bind(column(events, |n| n.contact_id))
            .bind(column(events, |n| n.sent_contact_id))
            .bind(column(events, |n| n.event.external_id.clone()))
            .bind(column(events, |n| n.event.email.clone()))
            .bind(column(events, |n| n.event.payload.get().to_owned()))
            .bind(column(events, |n| n.event.occurred_at.unix_millis()))
            .bind(column(events, |n| n.event.received_at.unix_millis()))
            .bind(now)
            .bind(column(events, |n| n.event.idempotency_key.clone()))
            .bind(column(events, |n| n.event.source.as_str()))
            .bind(column(events, |n| n.event.region.clone()))
            .fetch_all(&mut *conn)
            .await?;
            inserted.extend(ids);
        }
        // Conflicts only for events stored now: one a concurrent writer stored first has its
        // conflicts recorded there.
        let conflicts: Vec<_> = writes
            .conflicts
            .iter()
            .filter(|c| inserted.contains(&c.event_id))
            .collect();
        if !conflicts.is_empty() {
            sqlx::query(
                "INSERT INTO identity_conflicts (project_id, event_id, kind, value, \
                 identifier_contact, resolved_contact, created_at) \
                 SELECT p, e, k, v, i, r, $7 FROM UNNEST($1::text[], $2::uuid[], $3::text[], \
                 $4::text[], $5::uuid[], $6::uuid[]) AS t(p, e, k, v, i, r)",
            )
            .bind(column(&conflicts, |c| c.key.0.clone()))
            .bind(column(&conflicts, |c| c.event_id))
            .bind(column(&conflicts, |c| c.key.1))
            .bind(column(&conflicts, |c| c.key.2.clone()))
            .bind(column(&conflicts, |c| c.identifier_contact))
            .bind(column(&conflicts, |c| c.resolved_contact))
            .bind(now)
            .execute(&mut *conn)
            .await?;
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
